/**
 * The grammars of the agent's flag values that options.ts parses too: the Node name (and its
 * default from the host name), the engine URL, the Node labels.
 */
import { NODE_NAME_MAX_LENGTH } from "../api/vocabulary.js";
import { parseEngineUrl } from "../docker/url.js";

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Node names are label values (berth.dev/node) and Instance spec.nodeName: RFC 1123 labels,
 * short enough that berth-node-<name> is a namespace name too.
 */
export function validateNodeName(value: string): string | undefined {
  if (value === "") return undefined; // derived from the host name
  if (value.length > NODE_NAME_MAX_LENGTH || !DNS_LABEL.test(value)) {
    return `must be a lowercase RFC 1123 label (letters, digits and '-', no dots), at most ${NODE_NAME_MAX_LENGTH} characters`;
  }
  return undefined;
}

/** The default Node name: the host name's first label, lowercased. */
export function nodeNameFromHostname(hostname: string): string {
  return (hostname.toLowerCase().split(".")[0] ?? "").slice(0, NODE_NAME_MAX_LENGTH).replace(/-+$/, "");
}

export function validateUrl(value: string): string | undefined {
  if (value === "") return undefined;
  try {
    parseEngineUrl(value);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** "k=v,k2=v2" into a map; throws a message on a malformed pair. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf("=");
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? "" : pair.slice(eq + 1);
    if (
      eq === -1 ||
      !LABEL_KEY.test(key) ||
      key.length > 317 ||
      !LABEL_VALUE.test(value) ||
      value.length > 63
    ) {
      throw new Error(`"${pair}" is not a key=value label`);
    }
    labels[key] = value;
  }
  return labels;
}
