/** The registry role's flags (with environment fallbacks) and the settings they make. */
import { defineFlags, type FlagValues } from "../runtime/flags.js";
import { parseHostPort } from "../runtime/flags.js";

export interface RegistrySettings {
  host: string;
  port: number;
  allowAnonymousLoopback: boolean;
  ttl: { minSeconds: number; maxSeconds: number; defaultSeconds: number };
  maxWaitMs: number;
  maxBodyBytes: number;
  maxWaits: number;
  maxWaitsPerClient: number;
  authCacheTtlMs: number;
  authCacheSize: number;
  /** Unsent bytes past which an event stream's reader is dropped. */
  streamBufferBytes: number;
  /** How often an open event stream's caller is checked again. */
  streamRecheckMs: number;
}

export const DEFAULT_REGISTRY_SETTINGS: RegistrySettings = {
  host: "127.0.0.1",
  port: 9470,
  allowAnonymousLoopback: false,
  ttl: { minSeconds: 1, maxSeconds: 3600, defaultSeconds: 30 },
  maxWaitMs: 300_000,
  maxBodyBytes: 16 * 1024,
  maxWaits: 4096,
  maxWaitsPerClient: 64,
  authCacheTtlMs: 10_000,
  authCacheSize: 4096,
  streamBufferBytes: 256 * 1024,
  streamRecheckMs: 30_000,
};

const D = DEFAULT_REGISTRY_SETTINGS;
const wholeSeconds = (ms: number): string | undefined =>
  ms >= 1000 && ms % 1000 === 0 ? undefined : "must be a whole number of seconds, at least 1s";
const positive = (n: number): string | undefined => (n >= 1 ? undefined : "must be at least 1");

export const registryFlags = defineFlags({
  registryBindAddress: {
    name: "registry-bind-address",
    env: "BERTH_REGISTRY_BIND_ADDRESS",
    type: "string",
    default: `${D.host}:${D.port}`,
    help: "Where the registry API is served. Use 0.0.0.0:9470 in a cluster; port 0 picks a free port.",
    validate: (value) => (parseHostPort(value) ? undefined : 'must be "host:port", such as 127.0.0.1:9470'),
  },
  registryAllowAnonymousLoopback: {
    name: "registry-allow-anonymous-loopback",
    env: "BERTH_REGISTRY_ALLOW_ANONYMOUS_LOOPBACK",
    type: "bool",
    default: D.allowAnonymousLoopback,
    help: "Allow reads (lookup, watch, list) without a token from loopback addresses only. Writes always need a token. For the local default, never in a cluster.",
  },
  registryTtlMin: {
    name: "registry-ttl-min",
    env: "BERTH_REGISTRY_TTL_MIN",
    type: "duration",
    default: D.ttl.minSeconds * 1000,
    help: "Shortest TTL a self-registered instance may ask for.",
    validate: wholeSeconds,
  },
  registryTtlMax: {
    name: "registry-ttl-max",
    env: "BERTH_REGISTRY_TTL_MAX",
    type: "duration",
    default: D.ttl.maxSeconds * 1000,
    help: "Longest TTL a self-registered instance may ask for (at most 24h).",
    validate: (ms) => wholeSeconds(ms) ?? (ms <= 86_400_000 ? undefined : "must be at most 24h"),
  },
  registryTtlDefault: {
    name: "registry-ttl-default",
    env: "BERTH_REGISTRY_TTL_DEFAULT",
    type: "duration",
    default: D.ttl.defaultSeconds * 1000,
    help: "TTL of a self-registered instance that asks for none (within the min and max).",
    validate: wholeSeconds,
  },
  registryMaxWait: {
    name: "registry-max-wait",
    env: "BERTH_REGISTRY_MAX_WAIT",
    type: "duration",
    default: D.maxWaitMs,
    help: "Longest a blocking query waits (a longer ?wait= is cut to this); also the wait when none is given.",
    validate: (ms) => (ms >= 1000 ? undefined : "must be at least 1s"),
  },
  registryMaxBodyBytes: {
    name: "registry-max-body-bytes",
    env: "BERTH_REGISTRY_MAX_BODY_BYTES",
    type: "int",
    default: D.maxBodyBytes,
    help: "Largest request body accepted (registration); larger ones get 400 before being read.",
    validate: (n) => (n >= 256 && n <= 1_048_576 ? undefined : "must be from 256 to 1048576"),
  },
  registryMaxWaits: {
    name: "registry-max-waits",
    env: "BERTH_REGISTRY_MAX_WAITS",
    type: "int",
    default: D.maxWaits,
    help: "Blocking queries and event streams open at once, in all; beyond it 503 with Retry-After.",
    validate: positive,
  },
  registryMaxWaitsPerClient: {
    name: "registry-max-waits-per-client",
    env: "BERTH_REGISTRY_MAX_WAITS_PER_CLIENT",
    type: "int",
    default: D.maxWaitsPerClient,
    help: "Blocking queries and event streams one client (user, or address when anonymous) may hold open.",
    validate: positive,
  },
  registryAuthCacheTtl: {
    name: "registry-auth-cache-ttl",
    env: "BERTH_REGISTRY_AUTH_CACHE_TTL",
    type: "duration",
    default: D.authCacheTtlMs,
    help: "How long a TokenReview or SubjectAccessReview answer is reused; 0 asks the API server every time.",
    validate: (ms) => (ms >= 0 && ms <= 300_000 ? undefined : "must be from 0 to 5m"),
  },
  registryAuthCacheSize: {
    name: "registry-auth-cache-size",
    env: "BERTH_REGISTRY_AUTH_CACHE_SIZE",
    type: "int",
    default: D.authCacheSize,
    help: "Most tokens and most access decisions kept (each); the oldest go first.",
    validate: (n) => (n >= 0 ? undefined : "must not be negative"),
  },
  registryStreamBufferBytes: {
    name: "registry-stream-buffer-bytes",
    env: "BERTH_REGISTRY_STREAM_BUFFER_BYTES",
    type: "int",
    default: D.streamBufferBytes,
    help: "Unsent bytes an event stream may queue for a slow reader before it is dropped (the reader reconnects with Last-Event-ID).",
    validate: (n) => (n >= 1024 ? undefined : "must be at least 1024"),
  },
  registryStreamRecheck: {
    name: "registry-stream-recheck",
    env: "BERTH_REGISTRY_STREAM_RECHECK",
    type: "duration",
    default: D.streamRecheckMs,
    help: "How often an open event stream's token and RBAC are checked again; a refused caller's stream ends with an error event.",
    validate: (ms) => (ms >= 100 && ms <= 3_600_000 ? undefined : "must be from 100ms to 1h"),
  },
});

export function registrySettingsFromFlags(values: FlagValues<typeof registryFlags>): RegistrySettings {
  const bind = parseHostPort(values.registryBindAddress)!;
  const ttl = {
    minSeconds: values.registryTtlMin / 1000,
    maxSeconds: values.registryTtlMax / 1000,
    defaultSeconds: values.registryTtlDefault / 1000,
  };
  if (ttl.minSeconds > ttl.maxSeconds) {
    throw new RangeError("--registry-ttl-min must not be above --registry-ttl-max");
  }
  if (ttl.defaultSeconds < ttl.minSeconds || ttl.defaultSeconds > ttl.maxSeconds) {
    throw new RangeError("--registry-ttl-default must be within --registry-ttl-min and --registry-ttl-max");
  }
  return {
    host: bind.host,
    port: bind.port,
    allowAnonymousLoopback: values.registryAllowAnonymousLoopback,
    ttl,
    maxWaitMs: values.registryMaxWait,
    maxBodyBytes: values.registryMaxBodyBytes,
    maxWaits: values.registryMaxWaits,
    maxWaitsPerClient: values.registryMaxWaitsPerClient,
    authCacheTtlMs: values.registryAuthCacheTtl,
    authCacheSize: values.registryAuthCacheSize,
    streamBufferBytes: values.registryStreamBufferBytes,
    streamRecheckMs: values.registryStreamRecheck,
  };
}
