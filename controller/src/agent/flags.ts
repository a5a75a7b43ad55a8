/**
 * The agent's flags, with environment fallbacks and validation; options.ts turns their
 * values into AgentOptions.
 */
import net from "node:net";
import { cpuNanos, memoryBytes } from "../api/quantity.js";
import type { FlagValues } from "../runtime/flags.js";
import { defineFlags } from "../runtime/flags.js";
import { fileRepositoryFlags } from "../source/file-repositories.js";
import { parseLabels, validateNodeName, validateUrl } from "./flag-grammars.js";
import { installationProblem } from "./installation.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

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
      value === "" || memoryBytes(value) !== undefined ? undefined : "must be a quantity such as 8Gi",
    ),
  },
  capacityCpus: {
    name: "capacity-cpus",
    env: "BERTH_CAPACITY_CPUS",
    type: "string",
    default: "",
    help: "CPUs Instances may claim on this node, such as 4 or 3500m; unlimited when empty. Applied when the agent creates its Node.",
    validate: onText((value) =>
      value === "" || cpuNanos(value) !== undefined ? undefined : "must be a quantity such as 4 or 3500m",
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
    help: "Directory for the agent's identity and lock file (keep it across restarts so a restarted agent reclaims its Node at once), repository mirrors and build logs; /var/lib/berth/agent-<node> when the agent may write there, else $XDG_STATE_HOME/berth/agent-<node> or ~/.local/state/berth/agent-<node>. Created with mode 0700; one owned by another user or writable by group or others is refused.",
  },
  workers: {
    name: "agent-workers",
    env: "BERTH_AGENT_WORKERS",
    type: "int",
    default: 32,
    help: "How many Instances the agent works on at once (deploys, status writes, removals). A pass mostly waits on the engine, so a burst of new Instances is started side by side, as the engine allows, rather than a few at a time.",
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
  startWork: {
    name: "max-parallel-starts",
    env: "BERTH_MAX_PARALLEL_STARTS",
    type: "int",
    default: 6,
    help: "How many containers the agent creates and starts at once on its engine; more wait their turn. An engine starting many at once shares its CPU among all of them and finishes them all late; a few at a time finish one after another, so most of a burst serves sooner.",
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
    validate: onText((value) =>
      memoryBytes(value) !== undefined ? undefined : "must be a quantity such as 2Gi",
    ),
  },
  maxBuildLogSize: {
    name: "max-build-log-size",
    env: "BERTH_MAX_BUILD_LOG_SIZE",
    type: "string",
    default: "4Mi",
    help: "Most bytes one build log keeps (its first half and its last lines), a quantity such as 4Mi.",
    validate: onText((value) =>
      memoryBytes(value) !== undefined ? undefined : "must be a quantity such as 4Mi",
    ),
  },
  ...fileRepositoryFlags,
});

export type AgentFlagValues = FlagValues<typeof agentFlags>;
