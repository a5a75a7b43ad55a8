/**
 * The agent's options, declared as flags with environment fallbacks and validation, and
 * turned into AgentOptions (with derived defaults) by agentOptionsFromFlags.
 */
import net from "node:net";
import path from "node:path";
import os from "node:os";
import type { NodeCapacity } from "../api/types.js";
import { NODE_NAME_MAX_LENGTH } from "../api/types.js";
import { type EngineTlsFiles, hasEngineTls, resolveEngineTlsFiles } from "../docker/tls.js";
import { parseEngineUrl } from "../docker/url.js";
import type { FlagValues } from "../runtime/flags.js";
import { FlagError, defineFlags, parseFlags } from "../runtime/flags.js";
import { fileRepositoryFlags, parseDirectoryList } from "../source/index.js";
import type { CrashLoopOptions } from "./crashloop.js";
import { installationProblem } from "./installation.js";
import type { RetryBackoffOptions } from "./retry-backoff.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MEMORY_QUANTITY = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const CPU_QUANTITY = /^([0-9]+m|[0-9]+(\.[0-9]+)?)$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Node names are label values (berth.dev/node) and Instance spec.nodeName: RFC 1123 labels,
 * short enough that berth-node-<name> is a namespace name too.
 */
function validateNodeName(value: string): string | undefined {
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

function validateUrl(value: string): string | undefined {
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

// Validators take `unknown` and narrow themselves: the flag library checks each one against
// every flag type, so a validator typed for one type alone does not fit its signature.
const onText =
  (check: (value: string) => string | undefined) =>
  (value: unknown): string | undefined =>
    check(String(value));
const onNumber =
  (check: (value: number) => string | undefined) =>
  (value: unknown): string | undefined =>
    check(Number(value));

export const agentFlags = defineFlags({
  nodeName: {
    name: "node-name",
    env: "BERTH_NODE_NAME",
    type: "string",
    default: "",
    help: "Name of this agent's Node (an RFC 1123 label of at most 52 characters); the host name's first label, lowercased, when empty.",
    validate: onText(validateNodeName),
  },
  url: {
    name: "url",
    env: "BERTH_NODE_URL",
    type: "string",
    default: "",
    help: "URL of the Docker engine this agent runs containers on (unix:///path, tcp://host:port, http(s)://host:port); DOCKER_HOST or the default socket when empty.",
    validate: onText(validateUrl),
  },
  dockerTlsCa: {
    name: "docker-tls-ca",
    env: "BERTH_DOCKER_TLS_CA",
    type: "string",
    default: "",
    help: "PEM file of the CA that signed a tcp:// or https:// engine's certificate; the system's CAs when empty. With none of the --docker-tls-* flags, DOCKER_TLS_VERIFY takes ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH.",
  },
  dockerTlsCert: {
    name: "docker-tls-cert",
    env: "BERTH_DOCKER_TLS_CERT",
    type: "string",
    default: "",
    help: "PEM file of the client certificate the engine verifies (dockerd --tlsverify); needs --docker-tls-key.",
  },
  dockerTlsKey: {
    name: "docker-tls-key",
    env: "BERTH_DOCKER_TLS_KEY",
    type: "string",
    default: "",
    help: "PEM file of the client certificate's private key.",
  },
  address: {
    name: "address",
    env: "BERTH_NODE_ADDRESS",
    type: "string",
    default: "",
    help: "Host name or IP clients reach Instances at; the engine URL's host, or 127.0.0.1 for a local socket, when empty.",
    validate: onText((value) =>
      /\s|\//.test(value) ? "must be a host name or IP, without scheme or path" : undefined,
    ),
  },
  bindAddress: {
    name: "bind-address",
    env: "BERTH_BIND_ADDRESS",
    type: "string",
    default: "",
    help: "IP published container ports are bound to; 0.0.0.0 (or ::) binds every interface and must be asked for. When empty: the address when it is an IP, else the IP the address resolves to at start, else 127.0.0.1.",
    validate: onText((value) => (value === "" || net.isIP(value) ? undefined : "must be an IP address")),
  },
  labels: {
    name: "node-labels",
    env: "BERTH_NODE_LABELS",
    type: "string",
    default: "",
    help: "Node labels for placement, as k=v,k2=v2; applied when the agent creates its Node, an administrator's afterwards.",
    validate: onText((value) => {
      try {
        parseLabels(value);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    }),
  },
  capacityInstances: {
    name: "capacity-instances",
    env: "BERTH_CAPACITY_INSTANCES",
    type: "int",
    default: 0,
    help: "Most Instances this node runs; 0 for no limit. Applied when the agent creates its Node.",
    validate: onNumber((value) => (value < 0 ? "must not be negative" : undefined)),
  },
  capacityMemory: {
    name: "capacity-memory",
    env: "BERTH_CAPACITY_MEMORY",
    type: "string",
    default: "",
    help: "Memory Instances may claim on this node, such as 8Gi; unlimited when empty. Applied when the agent creates its Node.",
    validate: onText((value) =>
      value === "" || MEMORY_QUANTITY.test(value) ? undefined : "must be a quantity such as 8Gi",
    ),
  },
  capacityCpus: {
    name: "capacity-cpus",
    env: "BERTH_CAPACITY_CPUS",
    type: "string",
    default: "",
    help: "CPUs Instances may claim on this node, such as 4 or 3500m; unlimited when empty. Applied when the agent creates its Node.",
    validate: onText((value) =>
      value === "" || CPU_QUANTITY.test(value) ? undefined : "must be a quantity such as 4 or 3500m",
    ),
  },
  installation: {
    name: "installation",
    env: "BERTH_INSTALLATION",
    type: "string",
    default: "",
    help: "Identity of this Berth installation, labelled on every container (berth.dev/installation) so that agents of two installations sharing a Node name and an engine never touch each other's containers; the UID of the --node-lease-namespace namespace when empty.",
    validate: onText((value) => (value === "" ? undefined : installationProblem(value))),
  },
  leaseNamespace: {
    name: "node-lease-namespace",
    env: "BERTH_NODE_LEASE_NAMESPACE",
    type: "string",
    default: "berth-system",
    help: "Namespace of the node Leases (berth-node-<node>).",
    validate: onText((value) =>
      DNS_SUBDOMAIN.test(value) && value.length <= 63 ? undefined : "must be a namespace name",
    ),
  },
  leaseDuration: {
    name: "node-lease-duration",
    env: "BERTH_NODE_LEASE_DURATION",
    type: "duration",
    default: 40_000,
    help: "How long a node Lease holds without renewal.",
    validate: onNumber((value) => (value < 1000 ? "must be at least 1s" : undefined)),
  },
  leaseRenewInterval: {
    name: "node-lease-renew-interval",
    env: "BERTH_NODE_LEASE_RENEW_INTERVAL",
    type: "duration",
    default: 10_000,
    help: "How often the agent renews its node Lease (and checks its Docker engine).",
    validate: onNumber((value) => (value < 100 ? "must be at least 100ms" : undefined)),
  },
  statusInterval: {
    name: "node-status-interval",
    env: "BERTH_NODE_STATUS_INTERVAL",
    type: "duration",
    default: 60_000,
    help: "How often the Node's status (lastHeartbeat) is written when nothing changed.",
    validate: onNumber((value) => (value < 100 ? "must be at least 100ms" : undefined)),
  },
  stopGracePeriod: {
    name: "stop-grace-period",
    env: "BERTH_STOP_GRACE_PERIOD",
    type: "duration",
    default: 10_000,
    help: "How long a container gets to exit after SIGTERM before it is killed.",
  },
  crashBackoffBase: {
    name: "crash-backoff-base",
    env: "BERTH_CRASH_BACKOFF_BASE",
    type: "duration",
    default: 10_000,
    help: "First wait before restarting a crash-looping container; doubles per crash.",
    validate: onNumber((value) => (value < 1 ? "must be positive" : undefined)),
  },
  crashBackoffMax: {
    name: "crash-backoff-max",
    env: "BERTH_CRASH_BACKOFF_MAX",
    type: "duration",
    default: 300_000,
    help: "Longest wait before restarting a crash-looping container.",
    validate: onNumber((value) => (value < 1 ? "must be positive" : undefined)),
  },
  retryBackoffBase: {
    name: "retry-backoff-base",
    env: "BERTH_RETRY_BACKOFF_BASE",
    type: "duration",
    default: 5000,
    help: "First wait before a failed deployment step (pull, build, create, start) is tried again; doubles per failure.",
    validate: onNumber((value) => (value < 1 ? "must be positive" : undefined)),
  },
  retryBackoffMax: {
    name: "retry-backoff-max",
    env: "BERTH_RETRY_BACKOFF_MAX",
    type: "duration",
    default: 300_000,
    help: "Longest wait before a failed deployment step is tried again.",
    validate: onNumber((value) => (value < 1 ? "must be positive" : undefined)),
  },
  resyncInterval: {
    name: "agent-resync-interval",
    env: "BERTH_AGENT_RESYNC_INTERVAL",
    type: "duration",
    default: 60_000,
    help: "How often every Instance and container of this node is looked at even without events.",
    validate: onNumber((value) => (value < 100 ? "must be at least 100ms" : undefined)),
  },
  stateDir: {
    name: "state-dir",
    env: "BERTH_AGENT_STATE_DIR",
    type: "string",
    default: "",
    help: "Directory for the agent's identity and lock file (keep it across restarts so a restarted agent reclaims its Node at once), repository mirrors and build logs; berth-agent-<node> in the system's temporary directory when empty.",
  },
  workers: {
    name: "agent-workers",
    env: "BERTH_AGENT_WORKERS",
    type: "int",
    default: 4,
    help: "How many Instances the agent deploys at once.",
    validate: onNumber((value) => (value < 1 || value > 64 ? "must be between 1 and 64" : undefined)),
  },
  imageWork: {
    name: "max-parallel-image-work",
    env: "BERTH_MAX_PARALLEL_IMAGE_WORK",
    type: "int",
    default: 2,
    help: "How many image pulls and builds run at once on this node. They run apart from the --agent-workers, so a long build never holds up other Instances; more wait their turn, shown as Pulling or Building.",
    validate: onNumber((value) => (value < 1 || value > 64 ? "must be between 1 and 64" : undefined)),
  },
  imageGcInterval: {
    name: "image-gc-interval",
    env: "BERTH_IMAGE_GC_INTERVAL",
    type: "duration",
    default: 5 * 60_000,
    help: "How often built images, repository mirrors, build logs and leftover checkouts are collected.",
    validate: onNumber((value) => (value < 1000 ? "must be at least 1s" : undefined)),
  },
  buildImagesKept: {
    name: "build-images-kept",
    env: "BERTH_BUILD_IMAGES_KEPT",
    type: "int",
    default: 3,
    help: "How many built images (berth-build/<namespace>/<definition>:...) of each Definition are kept besides those in use; also how many build logs of images no longer there.",
    validate: onNumber((value) => (value < 0 || value > 100 ? "must be between 0 and 100" : undefined)),
  },
  imageGcHighThreshold: {
    name: "image-gc-high-threshold",
    env: "BERTH_IMAGE_GC_HIGH_THRESHOLD",
    type: "int",
    default: 85,
    help: "Disk usage (percent of the filesystem holding the engine's images) at which built images beyond those in use are removed too, oldest first, until usage is below --image-gc-low-threshold.",
    validate: onNumber((value) => (value < 1 || value > 100 ? "must be between 1 and 100" : undefined)),
  },
  imageGcLowThreshold: {
    name: "image-gc-low-threshold",
    env: "BERTH_IMAGE_GC_LOW_THRESHOLD",
    type: "int",
    default: 80,
    help: "Disk usage (percent) that collection above the high threshold brings the disk back under.",
    validate: onNumber((value) => (value < 0 || value > 100 ? "must be between 0 and 100" : undefined)),
  },
  imageGcDiskPath: {
    name: "image-gc-disk-path",
    env: "BERTH_IMAGE_GC_DISK_PATH",
    type: "string",
    default: "",
    help: "A path on the filesystem that holds the engine's images, for the thresholds; the engine's root directory when the agent can see it, else --state-dir, when empty.",
  },
  maxRepositorySize: {
    name: "max-repository-size",
    env: "BERTH_MAX_REPOSITORY_SIZE",
    type: "string",
    default: "2Gi",
    help: "Most disk a repository's mirror, and a checkout of one of its commits, may take (a quantity such as 2Gi); a larger one fails with RepositoryTooLarge.",
    validate: onText((value) => (MEMORY_QUANTITY.test(value) ? undefined : "must be a quantity such as 2Gi")),
  },
  maxBuildLogSize: {
    name: "max-build-log-size",
    env: "BERTH_MAX_BUILD_LOG_SIZE",
    type: "string",
    default: "4Mi",
    help: "Most bytes one build log keeps (its first half and its last lines), a quantity such as 4Mi.",
    validate: onText((value) => (MEMORY_QUANTITY.test(value) ? undefined : "must be a quantity such as 4Mi")),
  },
  ...fileRepositoryFlags,
});

export type AgentFlagValues = FlagValues<typeof agentFlags>;

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
  const capacity: NodeCapacity = {};
  if (values.capacityInstances > 0) capacity.instances = values.capacityInstances;
  if (values.capacityMemory) capacity.memory = values.capacityMemory;
  if (values.capacityCpus) capacity.cpus = values.capacityCpus;
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
    imageGc: {
      intervalMs: values.imageGcInterval,
      keepPerDefinition: values.buildImagesKept,
      highPercent: values.imageGcHighThreshold,
      lowPercent: values.imageGcLowThreshold,
      diskPath: values.imageGcDiskPath,
    },
    maxRepositoryBytes: quantityBytes(values.maxRepositorySize),
    maxBuildLogBytes: quantityBytes(values.maxBuildLogSize),
    stateDir: values.stateDir || path.join(os.tmpdir(), `berth-agent-${nodeName}`),
    allowFileRepositories: parseDirectoryList(values.allowFileRepositories),
    watchNamespace: values.watchNamespace ?? "",
  };
}

/** Bytes of a quantity such as 2Gi or 500M (the same suffixes as memory). */
function quantityBytes(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  if (!match) throw new FlagError(`"${text}" is not a quantity such as 2Gi`);
  const factors: Record<string, number> = {
    "": 1,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.floor(Number(match[1]) * (factors[match[2] ?? ""] ?? 1));
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
  if (!input.stateDir) merged.stateDir = path.join(os.tmpdir(), `berth-agent-${merged.nodeName}`);
  if (!input.bindAddress) merged.bindAddress = net.isIP(merged.address) ? merged.address : "";
  return merged;
}
