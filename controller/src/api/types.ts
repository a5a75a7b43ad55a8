/**
 * Berth's API, group berth.dev, version v1alpha1.
 *
 * These types are the single source of truth: `npm run generate` turns them (their
 * doc comments and markers) into crds/*.yaml, and the unit suite fails when the
 * committed YAML drifts from what this file generates.
 *
 * Markers (read by hack/generate-crds.ts), one per line in a doc comment, after the text:
 *   @minimum N / @maximum N / @minLength N / @maxLength N / @minItems N / @maxItems N
 *   @minProperties N / @maxProperties N
 *   @pattern REGEX / @format NAME / @default JSON / @enum A|B|C
 *   @intOrString  (int-or-string field)   @mapType atomic|granular
 *   @listType atomic|set|map  @listMapKey NAME
 *   @xValidation {"rule": "...", "message": "...", "fieldPath": "..."}
 *   @preserveUnknown
 *   @items:MARKER VALUE  (any marker above, applied to the items of a list)
 * On a kind (the interface that becomes a CRD):
 *   @resource {"plural": "...", "scope": "Namespaced|Cluster", "shortNames": [...], "categories": [...]}
 *   @printerColumn {"name": "...", "type": "...", "jsonPath": "...", "description": "..."}
 *   @selectableField .spec.someField
 * A field is required unless its name ends with `?`. Every field needs a doc comment (it
 * is what `kubectl explain` prints); a field without one falls back to its type's comment.
 * `number` becomes an integer: the API has no fractional numbers.
 */

export const GROUP = "berth.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** ObjectMeta is standard Kubernetes object metadata, kept minimal: the API server owns its schema. */
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

/** Condition is one aspect of an object's state, in the shape of metav1.Condition. */
export interface Condition {
  /**
   * type of the condition, in CamelCase (Ready, Progressing, Degraded, ...).
   * @minLength 1
   * @maxLength 316
   */
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
  /**
   * reason is a CamelCase word a program can act on, such as ImagePullFailed.
   * @maxLength 1024
   */
  reason: string;
  /**
   * message says what happened and what to do about it, for a person.
   * @maxLength 32768
   */
  message: string;
}

// ---------------------------------------------------------------- Definition

/**
 * Definition describes a service Berth runs: what to run (an image, or a repository to
 * build), how many copies, on which port, how to check health and what it depends on.
 * metadata.name is the service's slug: clients find the service by it.
 * @resource {"plural": "definitions", "scope": "Namespaced", "shortNames": ["bdef", "bdefs"], "categories": ["berth"]}
 * @printerColumn {"name": "Ready", "type": "string", "jsonPath": ".status.readySummary", "description": "Ready Instances out of desired replicas."}
 * @printerColumn {"name": "Addresses", "type": "string", "jsonPath": ".status.addresses", "description": "Addresses of the ready Instances."}
 * @printerColumn {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
 * @printerColumn {"name": "Up-to-date", "type": "integer", "jsonPath": ".status.updatedReplicas", "description": "Instances running the current deploymentId.", "priority": 1}
 * @printerColumn {"name": "Deployment", "type": "string", "jsonPath": ".status.deploymentId", "description": "Hash of the current run template.", "priority": 1}
 * @xValidation {"rule": "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')", "message": "metadata.name must be a slug (RFC 1035 label): at most 63 characters of a-z, 0-9 and '-', starting with a letter and ending with a letter or digit", "fieldPath": ".metadata.name"}
 * @xValidation {"rule": "!has(self.spec.dependsOn) || !(self.metadata.name in self.spec.dependsOn)", "message": "spec.dependsOn must not name the Definition itself", "fieldPath": ".spec.dependsOn"}
 */
export interface Definition {
  apiVersion: typeof API_VERSION;
  kind: "Definition";
  metadata: ObjectMeta;
  /** spec says what to run and how; the controller turns it into Instances. */
  spec: DefinitionSpec;
  /** status is written by the controller from the Instances it sees. */
  status?: DefinitionStatus;
}

/**
 * DefinitionName is the name (slug) of a Definition in the same namespace: a lowercase
 * RFC 1035 label.
 * @minLength 1
 * @maxLength 63
 * @pattern ^[a-z]([-a-z0-9]*[a-z0-9])?$
 */
export type DefinitionName = string;

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
   * @items:maxLength 4096
   */
  command?: string[];
  /**
   * args replaces the image's command (its default arguments).
   * @maxItems 256
   * @items:maxLength 4096
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
   * livenessCheck says how to tell that an Instance's container still works (same fields as
   * healthCheck). After failureThreshold failed checks in a row (a container that never
   * passes counts too, once its checks have spanned failureThreshold intervals) the agent
   * stops the container and starts a new one: a restart, counted in status.restarts and
   * subject to the crash-loop back-off. None when absent.
   */
  livenessCheck?: HealthCheck;
  /**
   * dependsOn names Definitions in the same namespace (by slug) that must have at least one
   * ready Instance before this Definition's Instances start. Their addresses are offered to
   * the container as environment variables.
   * A dependency cycle or a name no Definition has is reported in status conditions.
   * @maxItems 64
   * @listType set
   */
  dependsOn?: DefinitionName[];
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

/** ImageSource is a prebuilt container image to run. */
export interface ImageSource {
  /**
   * name is the image reference, such as registry.example.com/team/app:1.2 or app@sha256:...,
   * in the distribution reference grammar (the agent checks it again before any Docker call).
   * @minLength 1
   * @maxLength 512
   * @xValidation {"rule":"self.matches('^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:[.](?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[a-fA-F0-9]{32,})?$')","message":"image.name must be an image reference [registry[:port]/]path[:tag][@digest] whose path is lowercase letters and digits with single separators (., _, __, -), such as registry.example.com/team/app:1.2"}
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
 * RepositorySource is a git repository with a Containerfile to build the image from.
 * @xValidation {"rule": "self.url.startsWith('https://') || self.url.startsWith('ssh://') || self.url.startsWith('file://') || self.url.matches('^[A-Za-z0-9_.-]+@[A-Za-z0-9.-]+:.+$')", "message": "repository.url must be an https://, ssh:// (or user@host:path) or file:// URL", "fieldPath": ".url"}
 * @xValidation {"rule": "!self.url.matches('^[hH][tT][tT][pP][sS]://[^/?#]*@') && !self.url.matches('^[sS][sS][hH]://[^/?#@]*:[^/?#]*@')", "message": "repository.url must not hold credentials (a user, password or token before the host): Berth shows repository URLs in statuses, Events, logs and image labels", "fieldPath": ".url"}
 */
export interface RepositorySource {
  /**
   * url is the git repository to clone: https://, ssh:// (or user@host:path) or file://.
   * It must hold no credentials (an ssh user name is fine); a file:// URL must point under a
   * directory the operator allowed.
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
 * EnvVar is one environment variable of the container.
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
 * EnvVarSource reads an environment variable's value from a Secret or ConfigMap.
 * @xValidation {"rule": "has(self.secretKeyRef) != has(self.configMapKeyRef)", "message": "valueFrom: set exactly one of secretKeyRef or configMapKeyRef"}
 */
export interface EnvVarSource {
  /** secretKeyRef selects a key of a Secret in the Definition's namespace. */
  secretKeyRef?: KeySelector;
  /** configMapKeyRef selects a key of a ConfigMap in the Definition's namespace. */
  configMapKeyRef?: KeySelector;
}

/** KeySelector selects one key of a Secret or ConfigMap. */
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
 * EnvFromSource turns every key of a Secret or ConfigMap into an environment variable.
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

/** LocalObjectReference names an object in the Definition's namespace. */
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

/** Resources are the container's limits. */
export interface Resources {
  /**
   * memory is the container's memory limit as a Kubernetes quantity, such as 64Mi or 1Gi:
   * at least 6Mi, less than 8Pi.
   * @patternOf MEMORY_QUANTITY_PATTERN
   * @maxLength 32
   * @xValidation {"rule": "isQuantity(self) && !quantity(self).isLessThan(quantity('6Mi'))", "message": "resources.memory must be a quantity of at least 6Mi (the Docker engine's minimum)"}
   * @xValidation {"rule": "!isQuantity(self) || quantity(self).isLessThan(quantity('8Pi'))", "message": "resources.memory must be less than 8Pi (the largest limit the agent passes on exactly)"}
   */
  memory?: string;
  /**
   * cpus is the container's CPU limit in cores as a quantity, such as 500m or 1.5: at
   * least 10m (0.01 CPU, the finest limit the Docker engine sets).
   * @patternOf CPU_QUANTITY_PATTERN
   * @maxLength 32
   * @xValidation {"rule": "isQuantity(self) && !quantity(self).isLessThan(quantity('10m'))", "message": "resources.cpus must be a quantity of at least 10m (0.01 CPU, the Docker engine's minimum)"}
   * @xValidation {"rule": "!isQuantity(self) || quantity(self).isLessThan(quantity('1M'))", "message": "resources.cpus must be less than 1M (a million CPUs)"}
   */
  cpus?: string;
}

/**
 * HealthCheck says how to check an Instance's container: whether it is ready (healthCheck)
 * or still alive (livenessCheck). The API server names the field (spec.healthCheck or
 * spec.livenessCheck) before each message.
 * @xValidation {"rule": "self.type != 'http' || has(self.path)", "message": "path is required when type is http"}
 * @xValidation {"rule": "self.type != 'exec' || (has(self.command) && size(self.command) > 0)", "message": "command is required when type is exec"}
 * @xValidation {"rule": "!has(self.timeoutSeconds) || !has(self.intervalSeconds) || self.timeoutSeconds <= self.intervalSeconds", "message": "timeoutSeconds must not be more than intervalSeconds", "fieldPath": ".timeoutSeconds"}
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
   * port is the container port to check. The service port when absent. A port other than
   * the service port is not published on the node: the agent checks it at the container's
   * own address, unless publishPort is set.
   * @minimum 1
   * @maximum 65535
   */
  port?: number;
  /**
   * publishPort publishes the check's own port on the node too (bound like the service
   * port) and checks it there. Needed when the agent cannot reach the container's address,
   * such as an agent on another machine than its Docker engine. Default false.
   */
  publishPort?: boolean;
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
   * failureThreshold is how many checks in a row must fail before a ready Instance is not
   * ready (a liveness check: before its container is restarted).
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

/** Placement constrains which nodes Instances may run on. */
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

/** Rollout says how Instances are replaced when the spec changes. */
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

/** Endpoint is where one description of the service's API is found. */
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

/** ClientLibrary is a client library for the service. */
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

/** DefinitionStatus is what the controller observed of a Definition's Instances. */
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

/**
 * Instance is one copy of a service. A Berth-run Instance is created and owned by the
 * controller and run by the agent of the Node it is bound to; it is never created by hand.
 * An external Instance (spec.external) is an address Berth does not run: registered through
 * the registry's API with a TTL and heartbeats, or declared with kubectl for a fixed endpoint.
 * Berth's controllers never schedule, deploy, count or garbage-collect external Instances.
 * @resource {"plural": "instances", "scope": "Namespaced", "shortNames": ["binst", "binsts"], "categories": ["berth"]}
 * @printerColumn {"name": "Definition", "type": "string", "jsonPath": ".spec.definition", "description": "The Definition (service slug) this Instance belongs to."}
 * @printerColumn {"name": "Node", "type": "string", "jsonPath": ".spec.nodeName", "description": "The Node this Instance is bound to."}
 * @printerColumn {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Where the Instance is in its life."}
 * @printerColumn {"name": "Ready", "type": "boolean", "jsonPath": ".status.ready", "description": "Whether the health check passes."}
 * @printerColumn {"name": "Address", "type": "string", "jsonPath": ".status.address.url", "description": "Where the Instance answers."}
 * @printerColumn {"name": "External", "type": "string", "jsonPath": ".spec.external.url", "description": "For an external Instance (not run by Berth): its URL; empty for Berth-run Instances."}
 * @printerColumn {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
 * @printerColumn {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts", "description": "How often the container was restarted or recreated.", "priority": 1}
 * @printerColumn {"name": "Container", "type": "string", "jsonPath": ".status.containerId", "description": "The Docker container.", "priority": 1}
 * @selectableField .spec.nodeName
 * @selectableField .spec.definition
 */
export interface Instance {
  apiVersion: typeof API_VERSION;
  kind: "Instance";
  metadata: ObjectMeta;
  /** spec is written by the controller: what to run and where. */
  spec: InstanceSpec;
  /** status is written by the controller until the Instance is bound, then by the Node's agent. */
  status?: InstanceStatus;
}

/**
 * InstanceSpec is written by the controller for a Berth-run Instance; an external Instance
 * (spec.external) is written by the registry or by hand.
 * @xValidation {"rule": "has(self.external) || (has(self.template) && has(self.deploymentId))", "message": "spec.template and spec.deploymentId are required unless spec.external is set", "fieldPath": ".template"}
 * @xValidation {"rule": "!has(self.external) || (!has(self.template) && !has(self.nodeName) && !has(self.hostPort))", "message": "an external Instance (spec.external) must not set spec.template, spec.nodeName or spec.hostPort: Berth does not run it", "fieldPath": ".external"}
 * @xValidation {"rule": "has(self.external) == has(oldSelf.external)", "message": "spec.external cannot be added or removed", "fieldPath": ".external"}
 * @xValidation {"rule": "!has(oldSelf.nodeName) || oldSelf.nodeName == '' || has(self.nodeName)", "message": "spec.nodeName cannot be removed once set", "fieldPath": ".nodeName"}
 * @xValidation {"rule": "has(self.hostPort) == has(oldSelf.hostPort)", "message": "spec.hostPort is immutable", "fieldPath": ".hostPort"}
 * @xValidation {"rule": "has(self.environmentFrom) == has(oldSelf.environmentFrom)", "message": "spec.environmentFrom is immutable", "fieldPath": ".environmentFrom"}
 */
export interface InstanceSpec {
  /**
   * definition is the name (slug) of the Definition this Instance runs; for an external
   * Instance, the slug of the service it belongs to (a Definition of that name is optional).
   * @minLength 1
   * @maxLength 253
   * @xValidation {"rule": "self == oldSelf", "message": "spec.definition is immutable"}
   */
  definition: string;
  /**
   * deploymentId is the Definition's run-template hash this Instance runs. Required unless
   * spec.external is set.
   * @minLength 1
   * @maxLength 64
   * @xValidation {"rule": "self == oldSelf", "message": "spec.deploymentId is immutable"}
   */
  deploymentId?: string;
  /**
   * nodeName is the Node the scheduler bound this Instance to; empty until bound.
   * @maxLength 63
   * @xValidation {"rule": "oldSelf == '' || self == oldSelf", "message": "spec.nodeName cannot change once set"}
   */
  nodeName?: string;
  /**
   * hostPort is the fixed host port, copied from the Definition; absent for a dynamic port.
   * @minimum 1
   * @maximum 65535
   * @xValidation {"rule": "self == oldSelf", "message": "spec.hostPort is immutable"}
   */
  hostPort?: number;
  /**
   * template is the resolved run template the agent runs (image, port, env, ...). A changed
   * template is a new deploymentId, hence a new Instance. Required unless spec.external is set.
   * @xValidation {"rule": "self == oldSelf", "message": "spec.template is immutable"}
   */
  template?: RunTemplate;
  /**
   * environmentFrom says where the agent takes the container's environment and the image's
   * registry credentials from. NodeSecret (what the controller sets when the Definition has
   * env, envFrom, dependsOn or a pull secret): from the Secret the
   * controller writes for this Instance in the namespace berth-node-<nodeName>, resolved
   * from the Definition's env, envFrom, pull secret and dependsOn; the template's env then
   * names the variables without their literal values. Absent: from the template alone,
   * which may then hold literal values only (an Instance made by hand).
   * @enum NodeSecret
   * @xValidation {"rule": "self == oldSelf", "message": "spec.environmentFrom is immutable"}
   */
  environmentFrom?: "NodeSecret";
  /**
   * external marks an Instance Berth does not run: a process that registered itself through
   * the registry (with a TTL it renews by heartbeats) or a fixed endpoint declared with
   * kubectl (no TTL: ready as declared). Set only on creation.
   */
  external?: ExternalEndpoint;
}

/** ExternalEndpoint is the address of an Instance that Berth does not run. */
export interface ExternalEndpoint {
  /**
   * url to call: http:// or https:// with a host, such as http://10.0.0.7:8080.
   * @minLength 1
   * @maxLength 2048
   * @xValidation {"rule": "self.matches('^https?://[^/?#@\\\\s]+([/?#].*)?$')", "message": "spec.external.url must be an http:// or https:// URL with a host and no user info"}
   */
  url: string;
  /**
   * ttlSeconds is how long the Instance stays ready after its last heartbeat. Absent: a
   * fixed endpoint, ready as declared, never expired.
   * @minimum 1
   * @maximum 86400
   */
  ttlSeconds?: number;
  /**
   * metadata is free-form key/value information the registering process attached.
   * @maxProperties 64
   */
  metadata?: Record<string, string>;
}

/**
 * RunTemplate is the part of a Definition an agent needs to run one container.
 * @xValidation {"rule": "has(self.image) != has(self.repository)", "message": "exactly one of template.image or template.repository must be set"}
 */
export interface RunTemplate {
  /** image is the prebuilt container image to run, as in the Definition. */
  image?: ImageSource;
  /** repository is the source to build the image from, as in the Definition. */
  repository?: RepositorySource;
  /**
   * command replaces the image's entrypoint.
   * @maxItems 256
   * @items:maxLength 4096
   */
  command?: string[];
  /**
   * args replaces the image's command (its default arguments).
   * @maxItems 256
   * @items:maxLength 4096
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
  /** healthCheck says how to tell that the Instance is ready. */
  healthCheck?: HealthCheck;
  /** livenessCheck says when the Instance's container is restarted (see DefinitionSpec). */
  livenessCheck?: HealthCheck;
}

export type InstancePhase =
  "Pending" | "Scheduled" | "Pulling" | "Building" | "Starting" | "Running" | "Failed" | "Terminating";

/** InstanceStatus is what the agent (or, before binding, the controller) observed. */
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
  /**
   * restarts counts how often the container was recreated or restarted.
   * @minimum 0
   */
  restarts?: number;
  /**
   * lastProbeTime is when the health check last ran, as of the last status write: written
   * whenever readiness changes and refreshed every 10 minutes otherwise (a passing check is
   * not an API write).
   * @format date-time
   */
  lastProbeTime?: string;
  /**
   * firstReadyTime is when the Instance first passed its health check. It stays through
   * later failures and restarts: from then on the Definition counts the Instance as rolled
   * out, and a failing check as an unhealthy Instance rather than a rollout that stalls.
   * @format date-time
   */
  firstReadyTime?: string;
  /** message says what is happening, for a person. */
  message?: string;
  /**
   * renewTime is, for an external Instance with a TTL, the last heartbeat the registry
   * recorded: it is ready until renewTime + ttlSeconds. The registry records a heartbeat only
   * when the recorded one would otherwise expire soon, not on every beat.
   * @format date-time
   */
  renewTime?: string;
  /** observedGeneration is the .metadata.generation this status describes. */
  observedGeneration?: number;
  /**
   * conditions: Scheduled, ContainerReady (created and running), Ready (health check passes).
   * @listType map
   * @listMapKey type
   */
  conditions?: Condition[];
}

/** InstanceAddress is where an Instance answers. */
export interface InstanceAddress {
  /** url to call, such as http://10.0.0.5:32768. */
  url: string;
  /** host is the node address. */
  host: string;
  /** port is the host port. */
  port: number;
}

// ---------------------------------------------------------------- Node

/**
 * Node is a machine with a Docker engine that runs Instances; its agent registers it and
 * reports its health. Not the core Kubernetes Node: use `kubectl get bnodes` (or
 * nodes.berth.dev).
 * @resource {"plural": "nodes", "scope": "Cluster", "shortNames": ["bnode", "bnodes"], "categories": ["berth"]}
 * @printerColumn {"name": "URL", "type": "string", "jsonPath": ".spec.url", "description": "The Docker engine's URL."}
 * @printerColumn {"name": "Ready", "type": "string", "jsonPath": ".status.ready", "description": "Whether the agent heartbeats and the engine answers."}
 * @printerColumn {"name": "Instances", "type": "integer", "jsonPath": ".status.instances", "description": "Instances bound to this Node."}
 * @printerColumn {"name": "Last Heartbeat", "type": "date", "jsonPath": ".status.lastHeartbeat", "description": "When the agent last reported."}
 * @printerColumn {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
 * @printerColumn {"name": "Address", "type": "string", "jsonPath": ".spec.address", "description": "Host that Instance addresses use.", "priority": 1}
 * @printerColumn {"name": "Docker", "type": "string", "jsonPath": ".status.dockerVersion", "description": "The engine's version.", "priority": 1}
 * @xValidation {"rule": "size(self.metadata.name) <= 52 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')", "message": "metadata.name of a Node must be an RFC 1123 label of at most 52 characters of a-z, 0-9 and '-': it is used as a label value and in the namespace berth-node-<name>", "fieldPath": ".metadata.name"}
 */
export interface Node {
  apiVersion: typeof API_VERSION;
  kind: "Node";
  metadata: ObjectMeta;
  /** spec says how to reach the machine and what it may run. */
  spec: NodeSpec;
  /** status is written by the Node's agent (heartbeat, engine) and the controller (liveness). */
  status?: NodeStatus;
}

/** NodeSpec says how to reach a machine's Docker engine and what it may run. */
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
  /**
   * allowPrivilegedPorts lets Instances publish a hostPort below 1024 on this node. Set by
   * an admin, never by the agent: the scheduler does not place such an Instance on a Node
   * without it, and the agent refuses to publish one.
   */
  allowPrivilegedPorts?: boolean;
}

/** NodeCapacity is an amount of a Node's resources. */
export interface NodeCapacity {
  /**
   * instances is the most Instances this node runs.
   * @minimum 0
   * @maximum 100000
   */
  instances?: number;
  /**
   * memory is the memory Instances may claim as a quantity, such as 8Gi.
   * @patternOf MEMORY_QUANTITY_PATTERN
   * @maxLength 32
   */
  memory?: string;
  /**
   * cpus is the CPU Instances may claim as a quantity, such as 4 or 3500m.
   * @patternOf CPU_QUANTITY_PATTERN
   * @maxLength 32
   */
  cpus?: string;
}

/** NodeStatus is what the agent and the controller observed of a Node. */
export interface NodeStatus {
  /**
   * lastHeartbeat is when the agent last reported (the Lease berth-node-<name> is renewed more often).
   * @format date-time
   */
  lastHeartbeat?: string;
  /**
   * ready mirrors the Ready condition's status for kubectl get.
   * @enum True|False|Unknown
   */
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
