/**
 * The repository URLs Berth clones from: https, ssh (also written user@host:path) and file,
 * nothing else. Checked before git ever runs; git enforces the same list again through
 * GIT_ALLOW_PROTOCOL. Also the redaction that keeps passwords in URLs out of messages.
 */
import { SourceError } from "./errors.js";

export type RepositoryScheme = "https" | "ssh" | "file";

export interface CheckedRepositoryUrl {
  url: string;
  scheme: RepositoryScheme;
  /** The URL with any password replaced, safe for messages and logs. */
  display: string;
}

const SCP_LIKE = /^([A-Za-z0-9_.-]+)@([A-Za-z0-9.-]+):(.+)$/;

/** Checks a repository URL against the allow-list; throws RepositoryURLRefused otherwise. */
export function checkRepositoryUrl(url: string): CheckedRepositoryUrl {
  const refuse = (why: string): never => {
    throw new SourceError(
      "RepositoryURLRefused",
      `repository URL ${redactUrl(url)} is refused: ${why}. Use an https://, ssh:// (or user@host:path) or file:// URL.`,
    );
  };
  // Whitespace and control characters have no place in a URL and could smuggle options.
  if (url.length === 0 || /\s/.test(url) || hasControlCharacter(url)) {
    refuse("it is empty or holds whitespace or control characters");
  }
  if (url.startsWith("-")) refuse("it starts with a dash");

  const scp = SCP_LIKE.exec(url);
  if (scp && !url.includes("://")) {
    const [, user = "", host = "", path = ""] = scp;
    if (user.startsWith("-") || host.startsWith("-") || path.startsWith("-"))
      refuse("a part of it starts with a dash");
    return { url, scheme: "ssh", display: url };
  }

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse("it is not a URL");
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  if (scheme === "https" || scheme === "ssh") {
    if (!parsed.hostname) refuse("it has no host");
    if (parsed.hostname.startsWith("-") || decodeURIComponent(parsed.username).startsWith("-")) {
      refuse("its host or user starts with a dash");
    }
    return { url, scheme, display: redactUrl(url) };
  }
  if (scheme === "file") {
    if (parsed.hostname && parsed.hostname !== "localhost")
      refuse("a file:// URL names a local path, not a host");
    if (!parsed.pathname || parsed.pathname === "/") refuse("it has no path");
    return { url, scheme, display: url };
  }
  return refuse(`the scheme "${scheme}" is not allowed`);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** The URL with the password of any user:password@ part replaced by ***. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/, "$1:***@");
}

/** Every URL in a text, with passwords redacted. */
export function redactUrlsIn(text: string): string {
  return text.replace(/([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/@:\s']*):[^/@\s']*@/g, "$1:***@");
}
