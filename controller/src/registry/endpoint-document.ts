/**
 * An `openapi` endpoint's document, fetched by the registry from a ready Instance for the
 * web index, and the operations it lists. The browser names only a service and an
 * endpoint's position in its Definition; the URL is the Definition's, resolved against the
 * Instance's own address, and must stay on that address (scheme, host and port): the
 * registry never fetches an arbitrary URL for anyone. The answer is bounded in time and
 * size, redirects are not followed.
 */
import { parse as parseYaml } from "yaml";
import { HttpError } from "./http.js";

export interface Operation {
  method: string;
  path: string;
  summary: string;
  operationId: string;
}

export interface EndpointDocument {
  /** Where it was fetched from. */
  url: string;
  title: string;
  version: string;
  operations: Operation[];
  /** More operations than are listed. */
  truncated: boolean;
}

export interface FetchBounds {
  timeoutMs: number;
  maxBytes: number;
}

export const MAX_OPERATIONS = 500;
const MAX_TEXT = 300;
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** The endpoint's URL on the instance, or a 422 when it leaves the instance's address. */
export function documentUrl(instanceUrl: string, endpointUrl: string): URL {
  const base = new URL(instanceUrl);
  let resolved: URL;
  try {
    resolved = new URL(endpointUrl, `${base.origin}/`);
  } catch {
    throw new HttpError(422, `the endpoint URL "${endpointUrl}" does not parse`, "url");
  }
  if (resolved.origin !== base.origin || resolved.username !== "" || resolved.password !== "") {
    throw new HttpError(
      422,
      `the endpoint URL "${endpointUrl}" is not on the instance's address ${base.origin}; the registry fetches documents only from the service itself`,
      "url",
    );
  }
  return resolved;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.slice(0, MAX_TEXT) : "";
}

/** The operations of an OpenAPI (or Swagger 2) document, in document order. */
export function operationsOf(document: unknown): Omit<EndpointDocument, "url"> {
  const doc = (typeof document === "object" && document !== null ? document : {}) as Record<string, unknown>;
  const info = (typeof doc.info === "object" && doc.info !== null ? doc.info : {}) as Record<string, unknown>;
  const paths = (typeof doc.paths === "object" && doc.paths !== null ? doc.paths : {}) as Record<
    string,
    unknown
  >;
  const operations: Operation[] = [];
  let truncated = false;
  for (const [path, item] of Object.entries(paths)) {
    if (typeof item !== "object" || item === null) continue;
    for (const method of METHODS) {
      const op = (item as Record<string, unknown>)[method];
      if (typeof op !== "object" || op === null) continue;
      if (operations.length >= MAX_OPERATIONS) {
        truncated = true;
        break;
      }
      const fields = op as Record<string, unknown>;
      operations.push({
        method: method.toUpperCase(),
        path: path.slice(0, MAX_TEXT),
        summary: text(fields.summary) || text(fields.description),
        operationId: text(fields.operationId),
      });
    }
  }
  return { title: text(info.title), version: text(info.version), operations, truncated };
}

/** Fetches and reads the document; an HttpError (502/504) says what went wrong. */
export async function fetchEndpointDocument(url: URL, bounds: FetchBounds): Promise<EndpointDocument> {
  const where = url.toString();
  let res: Response;
  try {
    res = await fetch(where, {
      redirect: "manual",
      headers: { Accept: "application/json, application/yaml;q=0.9" },
      signal: AbortSignal.timeout(bounds.timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof Error && err.name === "TimeoutError";
    throw new HttpError(
      timedOut ? 504 : 502,
      timedOut
        ? `${where} did not answer within ${bounds.timeoutMs} ms`
        : `${where} could not be reached: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new HttpError(502, `${where} answered ${res.status}, not 200 (redirects are not followed)`);
  }
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > bounds.maxBytes) {
    await res.body.cancel();
    throw new HttpError(502, `${where} is ${declared} bytes; at most ${bounds.maxBytes} are read`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > bounds.maxBytes) {
        throw new HttpError(502, `${where} is larger than ${bounds.maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(504, `${where} was not read within ${bounds.timeoutMs} ms`);
  }
  const body = Buffer.concat(chunks).toString("utf8");
  let parsed: unknown;
  try {
    parsed = body.trimStart().startsWith("{") ? JSON.parse(body) : parseYaml(body, { maxAliasCount: 100 });
  } catch (err) {
    throw new HttpError(
      502,
      `${where} is not a JSON or YAML document: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { url: where, ...operationsOf(parsed) };
}
