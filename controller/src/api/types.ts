/**
 * Berth's API, group berth.dev, version v1alpha1.
 *
 * These types are the single source of truth: `npm run generate` turns them (their
 * doc comments and markers) into crds/*.yaml, and the unit suite fails when the
 * committed YAML drifts from what this file generates.
 *
 * Markers (read by hack/generate-crds.ts), one per line in a doc comment:
 *   @minimum N / @maximum N / @minLength N / @maxLength N / @minItems N / @maxItems N
 *   @pattern REGEX / @format NAME / @default JSON / @enum A|B|C
 *   @intOrString  (int-or-string field)   @mapType atomic|granular
 *   @listType atomic|set|map  @listMapKey NAME
 *   @xValidation {"rule": "...", "message": "...", "fieldPath": "..."}
 *   @preserveUnknown
 * A field is required unless its name ends with `?`.
 */

export const GROUP = "berth.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Standard Kubernetes object metadata, kept minimal: the API server owns its schema. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A status condition, in the shape of metav1.Condition. */
export interface Condition {
  /** type of the condition, in CamelCase (Ready, Progressing, Degraded, ...). */
  type: string;
  /**
   * status of the condition.
   * @enum True|False|Unknown
   */
  status: "True" | "False" | "Unknown";
  /** observedGeneration is the .metadata.generation the condition was computed from. */
  observedGeneration?: number;
  /**
   * lastTransitionTime is when the condition last changed status.
   * @format date-time
   */
  lastTransitionTime: string;
  /** reason is a CamelCase word a program can act on, such as ImagePullFailed. */
  reason: string;
  /** message says what happened and what to do about it, for a person. */
  message: string;
}

// ---------------------------------------------------------------- Definition

export interface Definition {
  apiVersion: typeof API_VERSION;
  kind: "Definition";
  metadata: ObjectMeta;
  spec: DefinitionSpec;
  status?: DefinitionStatus;
}

/**
 * DefinitionSpec says what to run: a container image, or a repository to build, with how
 * many copies, on which port, how to check health and what it depends on.
 * @xValidation {"rule": "has(self.image) != has(self.repository)", "message": "exactly one of spec.image or spec.repository must be set"}
 */
export interface DefinitionSpec {
  /** image runs a prebuilt container image. Exactly one of image or repository is set. */
  image?: ImageSource;
  /** repository builds the container image from source. Exactly one of image or repository is set. */
  repository?: RepositorySource;
  /**
   * hostPort is the fixed port on the node that the container port is published on.
   * Omit it to let the Docker engine pick a free port, which is read back into the
   * Instance's address. Replicas with a fixed hostPort land on different nodes.
   * @minimum 1
   * @maximum 65535
   */
  hostPort?: number;
  /**
   * replicas is how many Instances to run.
   * @minimum 0
   * @maximum 1000
   * @default 1
   */
  replicas?: number;
  /**
   * command replaces the image's entrypoint.
   * @maxItems 256
   */
  command?: string[];
  /**
   * args replaces the image's command (its default arguments).
   * @maxItems 256
   */
  args?: string[];
  /**
   * env sets environment variables in the container.
   * @maxItems 256
   * @listType map
   * @listMapKey name
   */
  env?: EnvVar[];
  /**
   * envFrom sets an environment variable for every key of a Secret or ConfigMap.
   * @maxItems 32
   */
  envFrom?: EnvFromSource[];
  /** resources limits the container's memory and CPU. */
  resources?: Resources;
  /** healthCheck says how to tell that an Instance is ready. Without one, a TCP connect to the port is used. */
  healthCheck?: HealthCheck;
  /**
   * dependsOn names Definitions in the same namespace (by slug) that must have at least one
   * ready Instance before this Definition's Instances start. Their addresses are offered to
   * the container as environment variables.
   * @maxItems 64
   * @listType set
   * @xValidation {"rule": "self.all(d, d.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))", "message": "each dependsOn entry must be a Definition name (lowercase RFC 1123 label)"}
   */
  dependsOn?: string[];
  /** placement constrains which nodes Instances may run on. */
  placement?: Placement;
  /** rollout says how Instances are replaced when the spec changes. */
  rollout?: Rollout;
  /**
   * endpoints lists the service's API descriptions (OpenAPI documents, gRPC reflection, ...).
   * @maxItems 32
   */
  endpoints?: Endpoint[];
  /**
   * clients lists client libraries for the service.
   * @maxItems 32
   */
  clients?: ClientLibrary[];
}

export interface ImageSource {
  /**
   * name is the image reference, such as registry.example.com/team/app:1.2 or app@sha256:...
   * @minLength 1
   * @maxLength 512
   * @pattern ^[^\s]+$
   */
  name: string;
  /**
   * port is the container port the service listens on.
   * @minimum 1
   * @maximum 65535
   */
  port: number;
  /**
   * pullPolicy says when to pull: Always, IfNotPresent (default) or Never.
   * @enum Always|IfNotPresent|Never
   * @default "IfNotPresent"
   */
  pullPolicy?: "Always" | "IfNotPresent" | "Never";
  /**
   * pullSecret names a Secret of type kubernetes.io/dockerconfigjson in the Definition's
   * namespace with the registry credentials.
   * @maxLength 253
   */
  pullSecret?: string;
}

/**
 * @xValidation {"rule": "self.url.startsWith('https://') || self.url.startsWith('ssh://') || self.url.startsWith('file://') || self.url.matches('^[A-Za-z0-9_.-]+@[A-Za-z0-9.-]+:.+$')", "message": "repository.url must be an https://, ssh:// (or user@host:path) or file:// URL", "fieldPath": ".url"}
 */
export interface RepositorySource {
  /**
   * url is the git repository to clone: https://, ssh:// (or user@host:path) or file://.
   * @minLength 1
   * @maxLength 2048
   */
  url: string;
  /**
   * ref is the branch, tag or commit to build. The repository's default branch when absent.
   * @maxLength 256
   * @pattern ^[^\s~^:?*\[\\]+$
   */
  ref?: string;
  /**
   * containerFile is the path of the Containerfile (Dockerfile) inside the repository.
   * @default "Dockerfile"
   * @maxLength 1024
   * @xValidation {"rule": "!self.startsWith('/') && !self.contains('..')", "message": "containerFile must be a relative path inside the repository"}
   */
  containerFile?: string;
  /**
   * contextDir is the build context inside the repository.
   * @default "."
   * @maxLength 1024
   * @xValidation {"rule": "!self.startsWith('/') && !self.contains('..')", "message": "contextDir must be a relative path inside the repository"}
   */
  contextDir?: string;
  /**
   * port is the container port the service listens on. When absent, the single port the
   * built image EXPOSEs is used.
   * @minimum 1
   * @maximum 65535
   */
  port?: number;
}

/**
 * @xValidation {"rule": "!(has(self.value) && has(self.valueFrom))", "message": "env: set value or valueFrom, not both"}
 */
export interface EnvVar {
  /**
   * name of the environment variable.
   * @pattern ^[A-Za-z_][A-Za-z0-9_]*$
   * @maxLength 256
   */
  name: string;
  /**
   * value is a literal value.
   * @maxLength 32768
   */
  value?: string;
  /** valueFrom reads the value from a key of a Secret or ConfigMap. */
  valueFrom?: EnvVarSource;
}

/**
 * @xValidation {"rule": "has(self.secretKeyRef) != has(self.configMapKeyRef)", "message": "valueFrom: set exactly one of secretKeyRef or configMapKeyRef"}
 */
export interface EnvVarSource {
  /** secretKeyRef selects a key of a Secret in the Definition's namespace. */
  secretKeyRef?: KeySelector;
  /** configMapKeyRef selects a key of a ConfigMap in the Definition's namespace. */
  configMapKeyRef?: KeySelector;
}

export interface KeySelector {
  /**
   * name of the Secret or ConfigMap.
   * @minLength 1
   * @maxLength 253
   */
  name: string;
  /**
   * key inside it.
   * @minLength 1
   * @maxLength 253
   */
  key: string;
  /** optional lets the container start when the object or key is missing. */
  optional?: boolean;
}

/**
 * @xValidation {"rule": "has(self.secretRef) != has(self.configMapRef)", "message": "envFrom: set exactly one of secretRef or configMapRef"}
 */
export interface EnvFromSource {
  /**
   * prefix is put before every key.
   * @maxLength 128
   * @pattern ^[A-Za-z_][A-Za-z0-9_]*$
   */
  prefix?: string;
  /** secretRef names a Secret in the Definition's namespace. */
  secretRef?: LocalObjectReference;
  /** configMapRef names a ConfigMap in the Definition's namespace. */
  configMapRef?: LocalObjectReference;
}

export interface LocalObjectReference {
  /**
   * name of the object.
   * @minLength 1
   * @maxLength 253
   */
  name: string;
  /** optional lets the container start when the object is missing. */
  optional?: boolean;
}

export interface Resources {
  /**
   * memory is the container's memory limit as a Kubernetes quantity, such as 64Mi or 1Gi.
   * @pattern ^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$
   * @maxLength 32
   * @xValidation {"rule": "quantity(self).isGreaterThan(quantity('4Mi'))", "message": "resources.memory must be more than 4Mi"}
   */
  memory?: string;
  /**
   * cpus is the container's CPU limit in cores as a quantity, such as 500m or 1.5.
   * @pattern ^([0-9]+m|[0-9]+(\.[0-9]+)?)$
   * @maxLength 32
   * @xValidation {"rule": "quantity(self).isGreaterThan(quantity('0'))", "message": "resources.cpus must be more than 0"}
   */
  cpus?: string;
}

/**
 * @xValidation {"rule": "self.type != 'http' || has(self.path)", "message": "healthCheck.path is required when healthCheck.type is http"}
 * @xValidation {"rule": "self.type != 'exec' || (has(self.command) && size(self.command) > 0)", "message": "healthCheck.command is required when healthCheck.type is exec"}
 * @xValidation {"rule": "!has(self.timeoutSeconds) || !has(self.intervalSeconds) || self.timeoutSeconds <= self.intervalSeconds", "message": "healthCheck.timeoutSeconds must not be more than healthCheck.intervalSeconds"}
 */
export interface HealthCheck {
  /**
   * type of check: http (a GET that must answer expectedStatus), tcp (a connect) or exec
   * (a command in the container that must exit 0).
   * @enum http|tcp|exec
   */
  type: "http" | "tcp" | "exec";
  /**
   * path for http checks, starting with /.
   * @pattern ^/
   * @maxLength 2048
   */
  path?: string;
  /**
   * port is the container port to check. The service port when absent.
   * @minimum 1
   * @maximum 65535
   */
  port?: number;
  /**
   * command for exec checks.
   * @maxItems 64
   */
  command?: string[];
  /**
   * expectedStatus is the HTTP status an http check must get. Any 2xx or 3xx when absent.
   * @minimum 100
   * @maximum 599
   */
  expectedStatus?: number;
  /**
   * intervalSeconds between checks.
   * @minimum 1
   * @maximum 3600
   * @default 10
   */
  intervalSeconds?: number;
  /**
   * timeoutSeconds for one check.
   * @minimum 1
   * @maximum 3600
   * @default 1
   */
  timeoutSeconds?: number;
  /**
   * failureThreshold is how many checks in a row must fail before a ready Instance is not ready.
   * @minimum 1
   * @maximum 100
   * @default 3
   */
  failureThreshold?: number;
  /**
   * successThreshold is how many checks in a row must pass before an Instance is ready.
   * @minimum 1
   * @maximum 100
   * @default 1
   */
  successThreshold?: number;
  /**
   * initialDelaySeconds to wait after the container starts before the first check.
   * @minimum 0
   * @maximum 3600
   * @default 0
   */
  initialDelaySeconds?: number;
}

export interface Placement {
  /**
   * nodeSelector: a Node must carry every one of these labels (spec.labels) to run an Instance.
   * @maxProperties 32
   */
  nodeSelector?: Record<string, string>;
  /**
   * spread says how replicas are spread: Spread (default) puts replicas on the nodes with
   * the fewest of this Definition's Instances first; Pack prefers the fullest node.
   * @enum Spread|Pack
   * @default "Spread"
   */
  spread?: "Spread" | "Pack";
}

export interface Rollout {
  /**
   * strategy is RollingUpdate (default: replace Instances a few at a time, old ones removed
   * only once new ones are ready) or Recreate (remove all, then start all).
   * @enum RollingUpdate|Recreate
   * @default "RollingUpdate"
   */
  strategy?: "RollingUpdate" | "Recreate";
  /**
   * maxSurge is how many Instances above replicas may exist during a rolling update.
   * @minimum 0
   * @maximum 1000
   * @default 1
   */
  maxSurge?: number;
  /**
   * maxUnavailable is how many of replicas may be not ready during a rolling update.
   * @minimum 0
   * @maximum 1000
   * @default 0
   */
  maxUnavailable?: number;
  /**
   * progressDeadlineSeconds is how long a rollout may go without progress before it is
   * reported as stalled (Progressing=False, reason ProgressDeadlineExceeded).
   * @minimum 1
   * @maximum 86400
   * @default 300
   */
  progressDeadlineSeconds?: number;
}

export interface Endpoint {
  /**
   * type of API description.
   * @enum openapi|grpc|graphql|asyncapi|other
   */
  type: "openapi" | "grpc" | "graphql" | "asyncapi" | "other";
  /**
   * url where the description is found; may be relative to the Instance address.
   * @minLength 1
   * @maxLength 2048
   */
  url: string;
}

export interface ClientLibrary {
  /**
   * language of the client library, such as go, typescript, python.
   * @minLength 1
   * @maxLength 64
   */
  language: string;
  /**
   * url of the client library.
   * @minLength 1
   * @maxLength 2048
   */
  url: string;
}

export interface DefinitionStatus {
  /** observedGeneration is the .metadata.generation this status describes. */
  observedGeneration?: number;
  /** deploymentId is a hash of everything that affects how the container runs; Instances carry it. */
  deploymentId?: string;
  /** replicas is how many Instances exist. */
  replicas?: number;
  /** readyReplicas is how many Instances are ready. */
  readyReplicas?: number;
  /** updatedReplicas is how many Instances run the current deploymentId. */
  updatedReplicas?: number;
  /** readySummary is readyReplicas/replicas for kubectl get, such as 2/3. */
  readySummary?: string;
  /**
   * addresses of the ready Instances, in a stable order: what a client calls.
   * @listType atomic
   */
  addresses?: string[];
  /**
   * conditions: Ready (at least the desired number of Instances are ready), Progressing
   * (a rollout is under way or stalled), Degraded (something needs a person: an invalid
   * dependency, an unschedulable replica, a failing Instance).
   * @listType map
   * @listMapKey type
   */
  conditions?: Condition[];
}

// ---------------------------------------------------------------- Instance

export interface Instance {
  apiVersion: typeof API_VERSION;
  kind: "Instance";
  metadata: ObjectMeta;
  spec: InstanceSpec;
  status?: InstanceStatus;
}

/** InstanceSpec is written by the controller, never by hand. */
export interface InstanceSpec {
  /**
   * definition is the name (slug) of the Definition this Instance runs.
   * @minLength 1
   * @maxLength 253
   * @xValidation {"rule": "self == oldSelf", "message": "spec.definition is immutable"}
   */
  definition: string;
  /**
   * deploymentId is the Definition's run-template hash this Instance runs.
   * @minLength 1
   * @maxLength 64
   * @xValidation {"rule": "self == oldSelf", "message": "spec.deploymentId is immutable"}
   */
  deploymentId: string;
  /**
   * nodeName is the Node the scheduler bound this Instance to; empty until bound.
   * @maxLength 253
   * @xValidation {"rule": "oldSelf == '' || self == oldSelf", "message": "spec.nodeName cannot change once set"}
   */
  nodeName?: string;
  /**
   * hostPort is the fixed host port, copied from the Definition; absent for a dynamic port.
   * @minimum 1
   * @maximum 65535
   */
  hostPort?: number;
  /** template is the resolved run template the agent runs (image, port, env, ...). */
  template: RunTemplate;
}

/** RunTemplate is the part of a Definition an agent needs to run one container. */
export interface RunTemplate {
  image?: ImageSource;
  repository?: RepositorySource;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: Resources;
  healthCheck?: HealthCheck;
}

export type InstancePhase =
  | "Pending"
  | "Scheduled"
  | "Pulling"
  | "Building"
  | "Starting"
  | "Running"
  | "Failed"
  | "Terminating";

export interface InstanceStatus {
  /**
   * phase is where the Instance is in its life.
   * @enum Pending|Scheduled|Pulling|Building|Starting|Running|Failed|Terminating
   */
  phase?: InstancePhase;
  /** ready is true when the health check passes; only ready Instances are listed in addresses. */
  ready?: boolean;
  /** address is where the Instance answers. */
  address?: InstanceAddress;
  /** containerId is the Docker container running this Instance. */
  containerId?: string;
  /** restarts counts how often the container was recreated or restarted. */
  restarts?: number;
  /**
   * lastProbeTime is when the health check last ran.
   * @format date-time
   */
  lastProbeTime?: string;
  /** message says what is happening, for a person. */
  message?: string;
  /** observedGeneration is the .metadata.generation this status describes. */
  observedGeneration?: number;
  /**
   * conditions: Scheduled, ContainerReady (created and running), Ready (health check passes).
   * @listType map
   * @listMapKey type
   */
  conditions?: Condition[];
}

export interface InstanceAddress {
  /** url to call, such as http://10.0.0.5:32768. */
  url: string;
  /** host is the node address. */
  host: string;
  /** port is the host port. */
  port: number;
}

// ---------------------------------------------------------------- Node

export interface Node {
  apiVersion: typeof API_VERSION;
  kind: "Node";
  metadata: ObjectMeta;
  spec: NodeSpec;
  status?: NodeStatus;
}

export interface NodeSpec {
  /**
   * url of the machine's Docker engine, such as unix:///var/run/docker.sock or
   * tcp://10.0.0.5:2376. Unique across Nodes.
   * @minLength 1
   * @maxLength 2048
   * @xValidation {"rule": "self.startsWith('unix://') || self.startsWith('tcp://') || self.startsWith('http://') || self.startsWith('https://')", "message": "spec.url must start with unix://, tcp://, http:// or https://"}
   */
  url: string;
  /**
   * address is the host name or IP that Instance addresses use, reachable by clients.
   * @minLength 1
   * @maxLength 253
   */
  address: string;
  /**
   * labels used by Definition placement.nodeSelector.
   * @maxProperties 64
   */
  labels?: Record<string, string>;
  /** capacity is what the scheduler may place on this node. */
  capacity?: NodeCapacity;
  /** unschedulable keeps new Instances off this node; running ones stay. */
  unschedulable?: boolean;
}

export interface NodeCapacity {
  /**
   * instances is the most Instances this node runs.
   * @minimum 0
   * @maximum 100000
   */
  instances?: number;
  /**
   * memory is the memory Instances may claim as a quantity, such as 8Gi.
   * @pattern ^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$
   */
  memory?: string;
  /**
   * cpus is the CPU Instances may claim as a quantity, such as 4 or 3500m.
   * @pattern ^([0-9]+m|[0-9]+(\.[0-9]+)?)$
   */
  cpus?: string;
}

export interface NodeStatus {
  /**
   * lastHeartbeat is when the agent last reported (the Lease berth-node-<name> is renewed more often).
   * @format date-time
   */
  lastHeartbeat?: string;
  /** ready mirrors the Ready condition for kubectl get. */
  ready?: string;
  /** dockerVersion is the engine's version. */
  dockerVersion?: string;
  /** allocatable is what is left after the Instances placed here. */
  allocatable?: NodeCapacity;
  /** instances is how many Instances are bound to this node. */
  instances?: number;
  /** agentId identifies the agent process holding this Node. */
  agentId?: string;
  /**
   * conditions: Ready (agent heartbeats and the engine answers), DockerReachable,
   * Misconfigured (for example a loopback URL while other Nodes exist).
   * @listType map
   * @listMapKey type
   */
  conditions?: Condition[];
}

/** Labels Berth puts on every container it runs; a container without them is never touched. */
export const LABELS = {
  instance: "berth.dev/instance",
  namespace: "berth.dev/namespace",
  definition: "berth.dev/definition",
  deploymentId: "berth.dev/deployment-id",
  node: "berth.dev/node",
  managedBy: "berth.dev/managed-by",
} as const;

export const DEFINITION_FINALIZER = "berth.dev/instances";
export const INSTANCE_FINALIZER = "berth.dev/container";
