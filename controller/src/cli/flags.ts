/**
 * Flags every role shares (Kubernetes access and namespace scope, logs, the metrics/probe
 * server, shutdown)
 * and the controller role's leader election.
 */
import { defineFlags, parseHostPort, type FlagSpecs } from "../runtime/flags.js";
import { LOG_FORMATS, LOG_LEVELS } from "../runtime/log.js";

/** "" (every namespace) or a namespace name (a DNS label). */
function isNamespaceScope(text: string): boolean {
  return text === "" || (text.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text));
}

const hostPort = (value: unknown): string | undefined =>
  parseHostPort(String(value)) ? undefined : 'must be "host:port", such as 127.0.0.1:9464 or :9464';

export const commonFlags = defineFlags({
  kubeconfig: {
    name: "kubeconfig",
    env: "KUBECONFIG",
    type: "string",
    default: "",
    help: "Path of a kubeconfig file. Empty: ~/.kube/config, or the in-cluster service account.",
  },
  context: {
    name: "context",
    env: "BERTH_KUBE_CONTEXT",
    type: "string",
    default: "",
    help: "The kubeconfig context to use. Empty: the kubeconfig's current-context.",
  },
  watchNamespace: {
    name: "watch-namespace",
    env: "BERTH_WATCH_NAMESPACE",
    type: "string",
    default: "",
    help: "Only Definitions and Instances in this namespace are looked at (and its Secrets and ConfigMaps, by the controller). Empty: every namespace.",
    validate: (value: unknown) =>
      isNamespaceScope(String(value)) ? undefined : "must be empty (every namespace) or a namespace name",
  },
  logLevel: {
    name: "log-level",
    env: "BERTH_LOG_LEVEL",
    type: "string",
    default: "info",
    choices: LOG_LEVELS,
    help: "Least severe log level written.",
  },
  logFormat: {
    name: "log-format",
    env: "BERTH_LOG_FORMAT",
    type: "string",
    default: "json",
    choices: LOG_FORMATS,
    help: "json (one object a line, for collectors) or text (for a terminal).",
  },
  metricsBindAddress: {
    name: "metrics-bind-address",
    env: "BERTH_METRICS_BIND_ADDRESS",
    type: "string",
    default: "127.0.0.1:9464",
    help: "Where /metrics, /healthz and /readyz are served. Use 0.0.0.0:9464 in a cluster; port 0 picks a free port.",
    validate: hostPort,
  },
  shutdownTimeout: {
    name: "shutdown-timeout",
    env: "BERTH_SHUTDOWN_TIMEOUT",
    type: "duration",
    default: 30_000,
    help: "On SIGTERM, in-flight work must finish and the lease be released within this.",
    validate: (ms: unknown) => (Number(ms) >= 1000 ? undefined : "must be at least 1s"),
  },
});

export const leaderFlags = defineFlags({
  leaderElect: {
    name: "leader-elect",
    env: "BERTH_LEADER_ELECT",
    type: "bool",
    default: true,
    help: "Reconcile only while holding the leader Lease, so several replicas can run (role controller).",
  },
  leaderElectionNamespace: {
    name: "leader-election-namespace",
    env: "BERTH_LEADER_ELECTION_NAMESPACE",
    type: "string",
    default: "berth-system",
    help: "Namespace of the leader Lease.",
  },
  leaderElectionId: {
    name: "leader-election-id",
    env: "BERTH_LEADER_ELECTION_ID",
    type: "string",
    default: "berth-controller",
    help: "Name of the leader Lease.",
  },
  leaderLeaseDuration: {
    name: "leader-lease-duration",
    env: "BERTH_LEADER_LEASE_DURATION",
    type: "duration",
    default: 15_000,
    help: "How long a standby waits after the leader's last renewal before taking over.",
  },
  leaderRenewDeadline: {
    name: "leader-renew-deadline",
    env: "BERTH_LEADER_RENEW_DEADLINE",
    type: "duration",
    default: 10_000,
    help: "The leader stops reconciling when it could not renew for this long.",
  },
  leaderRetryPeriod: {
    name: "leader-retry-period",
    env: "BERTH_LEADER_RETRY_PERIOD",
    type: "duration",
    default: 2_000,
    help: "How often the leader renews and standbys try to acquire.",
  },
});

/**
 * Merges the flag sets of the parts a role runs. The same flag may come from two parts (the
 * all-in-one role has both the controller's and the agent's node-lease namespace) only when
 * both mean the same flag; a key or name clash between different flags is a programming error.
 */
export function mergeFlags(...sets: FlagSpecs[]): FlagSpecs {
  const merged: FlagSpecs = {};
  const byName = new Map<string, string>();
  for (const set of sets) {
    for (const [key, spec] of Object.entries(set)) {
      const existing = merged[key];
      if (existing && existing.name !== spec.name) {
        throw new Error(`flag key ${key} is both --${existing.name} and --${spec.name}`);
      }
      const owner = byName.get(spec.name);
      if (owner !== undefined && owner !== key) {
        throw new Error(`flag --${spec.name} is declared under two keys: ${owner} and ${key}`);
      }
      byName.set(spec.name, key);
      merged[key] = spec;
    }
  }
  return merged;
}
