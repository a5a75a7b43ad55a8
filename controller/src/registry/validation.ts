/**
 * Checks of everything a client sends: path segments, query parameters and the
 * registration body. Each problem is a 400 naming the field; nothing is written before
 * every check passed.
 */
import { parseDuration } from "../runtime/flags.js";
import { badRequest } from "./http.js";

/** An RFC 1123 label, as Kubernetes namespace names are. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** An RFC 1035 label, as Definition names (slugs) are. */
const SLUG = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** An Instance name: a DNS subdomain. */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function checkNamespace(text: string): string {
  if (text.length > 63 || !NAMESPACE.test(text)) {
    throw badRequest("namespace", `"${clip(text)}" is not a namespace name (an RFC 1123 label)`);
  }
  return text;
}

export function checkSlug(text: string): string {
  if (text.length > 63 || !SLUG.test(text)) {
    throw badRequest(
      "slug",
      `"${clip(text)}" is not a slug: at most 63 characters of a-z, 0-9 and '-', starting with a letter and ending with a letter or digit`,
    );
  }
  return text;
}

export function checkInstanceName(text: string): string {
  if (text.length > 253 || !OBJECT_NAME.test(text)) {
    throw badRequest("name", `"${clip(text)}" is not an Instance name`);
  }
  return text;
}

export interface BlockingParams {
  /** Answer when the index is above this; undefined: answer at once. */
  index?: number;
  waitMs: number;
}

/** ?index=N&wait=30s; wait is capped at maxWaitMs and defaults to it. */
export function blockingParams(query: URLSearchParams, maxWaitMs: number): BlockingParams {
  const params: BlockingParams = { waitMs: maxWaitMs };
  const index = query.get("index");
  if (index !== null) {
    if (!/^\d{1,15}$/.test(index))
      throw badRequest("index", `"${clip(index)}" is not a non-negative integer`);
    params.index = Number(index);
  }
  const wait = query.get("wait");
  if (wait !== null) {
    const ms = /^\d+$/.test(wait) ? Number(wait) * 1000 : parseDuration(wait);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
      throw badRequest("wait", `"${clip(wait)}" is not a duration such as 30s or 5m`);
    }
    params.waitMs = Math.min(ms, maxWaitMs);
  }
  return params;
}

/** ?include=all or nothing. */
export function includeAll(query: URLSearchParams): boolean {
  const include = query.get("include");
  if (include === null || include === "ready") return false;
  if (include === "all") return true;
  throw badRequest("include", `"${clip(include)}" is not one of all, ready`);
}

export interface TtlBounds {
  minSeconds: number;
  maxSeconds: number;
  defaultSeconds: number;
}

export interface Registration {
  url: string;
  ttlSeconds: number;
  metadata?: Record<string, string>;
}

const REGISTRATION_FIELDS = new Set(["url", "ttlSeconds", "metadata"]);
const MAX_METADATA_ENTRIES = 64;
const METADATA_KEY = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** The body of a self-registration: { url, ttlSeconds?, metadata? } and nothing else. */
export function parseRegistration(body: unknown, ttl: TtlBounds): Registration {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("body", "must be a JSON object with url, ttlSeconds and metadata");
  }
  for (const field of Object.keys(body)) {
    if (!REGISTRATION_FIELDS.has(field)) {
      throw badRequest(clip(field), "is not a known field (known: url, ttlSeconds, metadata)");
    }
  }
  const fields = body as Record<string, unknown>;
  const registration: Registration = { url: checkUrl(fields.url), ttlSeconds: ttl.defaultSeconds };
  if (fields.ttlSeconds !== undefined) {
    const value = fields.ttlSeconds;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw badRequest("ttlSeconds", "must be a whole number of seconds");
    }
    if (value < ttl.minSeconds || value > ttl.maxSeconds) {
      throw badRequest("ttlSeconds", `${value} is outside ${ttl.minSeconds}..${ttl.maxSeconds}`);
    }
    registration.ttlSeconds = value;
  }
  if (fields.metadata !== undefined) registration.metadata = checkMetadata(fields.metadata);
  return registration;
}

function checkUrl(value: unknown): string {
  if (typeof value !== "string" || value === "")
    throw badRequest("url", "is required: an http:// or https:// URL");
  if (value.length > 2048) throw badRequest("url", "is longer than 2048 characters");
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw badRequest("url", `"${clip(value)}" is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw badRequest("url", `must be http:// or https://, not ${clip(parsed.protocol)}//`);
  }
  if (!parsed.hostname) throw badRequest("url", "has no host");
  if (parsed.username || parsed.password) throw badRequest("url", "must not hold credentials");
  // The API's own rule on spec.external.url, checked here so that a 400 comes before any write.
  if (!/^https?:\/\/[^/?#@\\\s]+([/?#].*)?$/.test(value))
    throw badRequest("url", "must be http(s)://host[:port][/path]");
  return value;
}

function checkMetadata(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("metadata", "must be an object of string values");
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_ENTRIES) {
    throw badRequest("metadata", `has ${entries.length} keys; at most ${MAX_METADATA_ENTRIES}`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, entry] of entries) {
    if (!METADATA_KEY.test(key)) throw badRequest(`metadata.${clip(key)}`, "is not a valid key");
    if (typeof entry !== "string") throw badRequest(`metadata.${key}`, "must be a string");
    if (entry.length > 1024) throw badRequest(`metadata.${key}`, "is longer than 1024 characters");
    metadata[key] = entry;
  }
  return metadata;
}

/** Echoes of client input are shortened, so an error never repeats a huge value back. */
function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}...` : text;
}
