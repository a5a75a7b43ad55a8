/**
 * The controller role's flags (with environment fallbacks), for the CLI to merge into its
 * own: the node liveness timings, the heartbeat namespace, the worker count, where file://
 * repositories may be (the controller resolves their refs) and whether the discovery mirror runs.
 */
import { defineFlags, type FlagValues } from "../runtime/flags.js";
import { fileRepositoryFlags, parseDirectoryList } from "../source/file-repositories.js";
import { DEFAULT_SETTINGS, type ControllerSettings } from "./context.js";

const atLeastOneSecond = (ms: number): string | undefined => (ms >= 1000 ? undefined : "must be at least 1s");

export const controllerFlags = defineFlags({
  nodeGracePeriod: {
    name: "node-grace-period",
    env: "BERTH_NODE_GRACE_PERIOD",
    type: "duration",
    default: DEFAULT_SETTINGS.nodeGracePeriodMs,
    help: "A Node whose agent has not heartbeated for this long becomes Ready=Unknown and its Instances leave the address lists.",
    validate: atLeastOneSecond,
  },
  nodeEvictionTimeout: {
    name: "node-eviction-timeout",
    env: "BERTH_NODE_EVICTION_TIMEOUT",
    type: "duration",
    default: DEFAULT_SETTINGS.nodeEvictionTimeoutMs,
    help: "Instances on a Node that stayed not Ready this long (after the grace period) are replaced on other Nodes.",
    validate: (ms) => (ms >= 0 ? undefined : "must not be negative"),
  },
  leaseNamespace: {
    name: "node-lease-namespace",
    env: "BERTH_NODE_LEASE_NAMESPACE",
    type: "string",
    default: DEFAULT_SETTINGS.leaseNamespace,
    help: "Namespace of the agents' heartbeat Leases (berth-node-<node>).",
    validate: (value) =>
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) ? undefined : "must be a namespace name",
  },
  deploymentSaltNamespace: {
    name: "deployment-salt-namespace",
    env: "BERTH_DEPLOYMENT_SALT_NAMESPACE",
    type: "string",
    default: DEFAULT_SETTINGS.deploymentSaltNamespace,
    help: "Namespace of the Secret berth-deployment-salt (made once by the controller), the key of the hashes of referenced Secrets and ConfigMaps in deploymentIds; the controller's own namespace.",
    validate: (value) =>
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) ? undefined : "must be a namespace name",
  },
  definitionWorkers: {
    name: "definition-workers",
    env: "BERTH_DEFINITION_WORKERS",
    type: "int",
    default: DEFAULT_SETTINGS.definitionWorkers,
    help: "How many Definitions are reconciled at once (and, each, services of the discovery mirror and Instance environments). A pass mostly waits on the API server, so a burst of new Definitions is worked on side by side.",
    validate: (n) => (n >= 1 && n <= 64 ? undefined : "must be from 1 to 64"),
  },
  discoveryMirror: {
    name: "discovery-mirror",
    env: "BERTH_DISCOVERY_MIRROR",
    type: "bool",
    default: DEFAULT_SETTINGS.discoveryMirror,
    help: "Publish every service as a headless Service with EndpointSlices, for Kubernetes-native discovery (Prometheus, CoreDNS); false leaves Services and EndpointSlices alone.",
  },
  ...fileRepositoryFlags,
});

export function controllerSettingsFromFlags(values: FlagValues<typeof controllerFlags>): ControllerSettings {
  return {
    nodeGracePeriodMs: values.nodeGracePeriod,
    nodeEvictionTimeoutMs: values.nodeEvictionTimeout,
    leaseNamespace: values.leaseNamespace,
    definitionWorkers: values.definitionWorkers,
    fileRepositories: { allowed: parseDirectoryList(values.allowFileRepositories), refused: [] },
    deploymentSaltNamespace: values.deploymentSaltNamespace,
    discoveryMirror: values.discoveryMirror,
  };
}
