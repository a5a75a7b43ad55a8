/**
 * The agent's options: what it needs to run, resolved from the flags' values (with derived
 * defaults) or given in code.
 */
import net from "node:net";
import os from "node:os";
import type { NodeCapacity } from "../api/types.js";
import { memoryBytes } from "../api/quantity.js";
import { type EngineTlsFiles, hasEngineTls, resolveEngineTlsFiles } from "../docker/tls.js";
import { parseEngineUrl } from "../docker/url.js";
import { FlagError, parseFlags } from "../runtime/flags.js";
import { parseDirectoryList } from "../source/file-repositories.js";
import type { CrashLoopOptions } from "./crashloop.js";
import { nodeNameFromHostname, parseLabels, validateNodeName, validateUrl } from "./flag-grammars.js";
import { agentFlags, type AgentFlagValues } from "./flags.js";
import type { RetryBackoffOptions } from "./retry-backoff.js";
import { defaultStateDir } from "./state-dir.js";

/** When and how far built images, mirrors and build logs are collected (image-gc.ts, source-gc.ts). */
export interface ImageGcSettings {
  intervalMs: number;
  keepPerDefinition: number;
  highPercent: number;
  lowPercent: number;
  /** A path on the images' filesystem; "" to find one at start. */
  diskPath: string;
}

/** Everything the agent needs to run, resolved and validated. */
export interface AgentOptions {
  nodeName: string;
  url: string;
  /** TLS files for a tcp:// or https:// engine; absent for none. */
  dockerTls?: EngineTlsFiles;
  address: string;
  /** The IP published ports are bound to; "" to derive it from the address at start (bind-address.ts). */
  bindAddress: string;
  labels: Record<string, string>;
  capacity?: NodeCapacity;
  /** The installation identity; "" to use the UID of leaseNamespace (see installation.ts). */
  installation: string;
  leaseNamespace: string;
  leaseDurationMs: number;
  leaseRenewIntervalMs: number;
  statusIntervalMs: number;
  stopGraceSeconds: number;
  crashLoop: CrashLoopOptions;
  /** The wait before a failed deployment step is tried again, per Instance. */
  retryBackoff: RetryBackoffOptions;
  resyncIntervalMs: number;
  workers: number;
  /** Where repository mirrors and build logs are kept. */
  stateDir: string;
  /** Pulls and builds at once on this node. */
  imageWork: number;
  /** Container creates and starts at once on this node's engine. */
  startWork: number;
  imageGc: ImageGcSettings;
  /** Most bytes of a repository's mirror or checkout. */
  maxRepositoryBytes: number;
  /** Most bytes of one build log. */
  maxBuildLogBytes: number;
  /** Directories repository URLs of file:// may point under (never stateDir); none: file:// is refused. */
  allowFileRepositories: string[];
  /** Only Instances in this namespace are run here (and only their containers touched); "" for all. */
  watchNamespace: string;
}

/**
 * Applies the derived defaults. `env` supplies DOCKER_HOST and is process.env by default.
 * The namespace scope is one of the CLI's shared flags (--watch-namespace), passed along here.
 */
export function agentOptionsFromFlags(
  values: AgentFlagValues & { watchNamespace?: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
): AgentOptions {
  const nodeName = values.nodeName || nodeNameFromHostname(os.hostname());
  const nameProblem = validateNodeName(nodeName);
  if (nameProblem)
    throw new FlagError(`--node-name: the host name "${nodeName}" ${nameProblem}; set --node-name`);
  const url = values.url || env.DOCKER_HOST || "unix:///var/run/docker.sock";
  const urlProblem = validateUrl(url);
  if (urlProblem) throw new FlagError(`--url: ${urlProblem}`);
  const dockerTls = dockerTlsFromFlags(values, url, env);
  const engine = parseEngineUrl(url);
  const address = values.address || (engine.kind === "network" ? engine.host : "127.0.0.1");
  // A host name is resolved when the agent starts (bind-address.ts): "" until then.
  const bindAddress = values.bindAddress || (net.isIP(address) ? address : "");
  checkFlagPairs(values);
  const capacity = capacityFrom(values);
  return {
    nodeName,
    url,
    ...(dockerTls ? { dockerTls } : {}),
    address,
    bindAddress,
    labels: parseLabels(values.labels),
    ...(Object.keys(capacity).length > 0 ? { capacity } : {}),
    installation: values.installation,
    leaseNamespace: values.leaseNamespace,
    leaseDurationMs: values.leaseDuration,
    leaseRenewIntervalMs: values.leaseRenewInterval,
    statusIntervalMs: values.statusInterval,
    stopGraceSeconds: Math.ceil(values.stopGracePeriod / 1000),
    crashLoop: {
      baseMs: values.crashBackoffBase,
      maxMs: values.crashBackoffMax,
      resetAfterMs: Math.max(10 * 60_000, 2 * values.crashBackoffMax),
    },
    retryBackoff: { baseMs: values.retryBackoffBase, maxMs: values.retryBackoffMax },
    resyncIntervalMs: values.resyncInterval,
    workers: values.workers,
    imageWork: values.imageWork,
    startWork: values.startWork,
    imageGc: {
      intervalMs: values.imageGcInterval,
      keepPerDefinition: values.buildImagesKept,
      highPercent: values.imageGcHighThreshold,
      lowPercent: values.imageGcLowThreshold,
      diskPath: values.imageGcDiskPath,
    },
    maxRepositoryBytes: quantityBytes(values.maxRepositorySize),
    maxBuildLogBytes: quantityBytes(values.maxBuildLogSize),
    stateDir: values.stateDir || defaultStateDir(nodeName),
    allowFileRepositories: parseDirectoryList(values.allowFileRepositories),
    watchNamespace: values.watchNamespace ?? "",
  };
}

/** Flags that bound one another: a renewal within the lease, a base below its maximum. */
function checkFlagPairs(values: AgentFlagValues): void {
  if (values.leaseRenewInterval >= values.leaseDuration) {
    throw new FlagError("--node-lease-renew-interval must be shorter than --node-lease-duration");
  }
  if (values.crashBackoffBase > values.crashBackoffMax) {
    throw new FlagError("--crash-backoff-base must not be more than --crash-backoff-max");
  }
  if (values.imageGcLowThreshold >= values.imageGcHighThreshold) {
    throw new FlagError("--image-gc-low-threshold must be below --image-gc-high-threshold");
  }
  if (values.retryBackoffBase > values.retryBackoffMax) {
    throw new FlagError("--retry-backoff-base must not be more than --retry-backoff-max");
  }
}

function capacityFrom(values: AgentFlagValues): NodeCapacity {
  const capacity: NodeCapacity = {};
  if (values.capacityInstances > 0) capacity.instances = values.capacityInstances;
  if (values.capacityMemory) capacity.memory = values.capacityMemory;
  if (values.capacityCpus) capacity.cpus = values.capacityCpus;
  return capacity;
}

/** Bytes of a quantity such as 2Gi or 500M (the memory grammar of api/quantity.ts). */
function quantityBytes(text: string): number {
  const bytes = memoryBytes(text);
  if (bytes === undefined) throw new FlagError(`"${text}" is not a quantity such as 2Gi`);
  return bytes;
}

/**
 * The engine's TLS files from the --docker-tls-* flags, or from DOCKER_TLS_VERIFY and
 * DOCKER_CERT_PATH as the docker CLI reads them. Those variables are ignored for a unix
 * socket (as the docker CLI does), while flags naming files for one are a mistake.
 */
function dockerTlsFromFlags(
  values: Pick<AgentFlagValues, "dockerTlsCa" | "dockerTlsCert" | "dockerTlsKey">,
  url: string,
  env: Readonly<Record<string, string | undefined>>,
): EngineTlsFiles | undefined {
  const explicit = { ca: values.dockerTlsCa, cert: values.dockerTlsCert, key: values.dockerTlsKey };
  let files: EngineTlsFiles | undefined;
  try {
    files = resolveEngineTlsFiles(explicit, env, {
      ca: "--docker-tls-ca",
      cert: "--docker-tls-cert",
      key: "--docker-tls-key",
    });
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
  if (!files) return undefined;
  if (!hasEngineTls(explicit) && url.trim().startsWith("unix://")) return undefined;
  try {
    parseEngineUrl(url, { tls: true });
  } catch (err) {
    throw new FlagError(`--docker-tls-*: ${(err as Error).message}`);
  }
  return files;
}

/** What a caller must say; everything else has the flags' defaults. */
export type AgentOptionsInput = Pick<AgentOptions, "nodeName" | "url" | "address"> & Partial<AgentOptions>;

/** Fills in defaults (the flags' own) for options given in code rather than as flags. */
export function resolveAgentOptions(input: AgentOptionsInput): AgentOptions {
  const defaults = agentOptionsFromFlags(
    {
      ...parseFlags(agentFlags, [], {}).values,
      nodeName: input.nodeName,
      url: input.url,
      address: input.address,
    },
    {},
  );
  const merged: AgentOptions = { ...defaults };
  for (const [key, value] of Object.entries(input) as Array<[keyof AgentOptions, unknown]>) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  if (!input.stateDir) merged.stateDir = defaultStateDir(merged.nodeName);
  if (!input.bindAddress) merged.bindAddress = net.isIP(merged.address) ? merged.address : "";
  return merged;
}
