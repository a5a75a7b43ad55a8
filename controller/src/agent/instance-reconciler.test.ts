import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../api/types.js";
import { INSTANCE_FINALIZER, LABELS } from "../api/types.js";
import type { CallOptions } from "../docker/engine.js";
import { ContainerNotFoundError, PortInUseError } from "../docker/errors.js";
import type { ContainerInfo, ContainerSpec, ContainerSummary } from "../docker/spec.js";
import type { ObjectRef } from "../kube/client.js";
import type { JsonPatchOp } from "../kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import { KubeApiError } from "../kube/errors.js";
import { FakeClock } from "../runtime/clock.js";
import type { ReconcileContext } from "../runtime/controller.js";
import { TerminalError } from "../runtime/controller.js";
import { RecordingEventRecorder } from "../runtime/events.js";
import { nullLogger } from "../runtime/log.js";
import { FakeKubeClient } from "../runtime/testing.js";
import type { SourceImage, SourceImageRequest } from "../source/index.js";
import { SourceBuildError, SourceError, sourceImageTag } from "../source/index.js";
import { RESTARTS_LABEL, SERVICE_PORT_LABEL } from "./containerspec.js";
import type { AgentDocker } from "./docker-port.js";
import { InstanceReconciler } from "./instance-reconciler.js";
import { Prober } from "./prober.js";

const NODE = { nodeName: "node-a", address: "10.0.0.5", bindAddress: "10.0.0.5" };

/** An in-memory engine: containers are records; start publishes port 32768 + n. */
class FakeDocker implements AgentDocker {
  readonly url = "unix:///fake/docker.sock";
  readonly containers = new Map<string, ContainerInfo>();
  readonly images = new Set<string>(["app:1"]);
  readonly calls: string[] = [];
  startError: Error | undefined;
  private next = 0;

  async ping(): Promise<void> {}
  async version() {
    return { version: "20.10.24", apiVersion: "1.41", os: "linux", arch: "amd64", kernelVersion: "6" };
  }
  async imageExists(image: string): Promise<boolean> {
    return this.images.has(image);
  }
  async pullImage(image: string) {
    this.calls.push(`pull ${image}`);
    this.images.add(image);
    return { id: image, repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
  }
  async createContainer(spec: ContainerSpec): Promise<string> {
    const id = `c${++this.next}`;
    this.calls.push(`create ${id}`);
    this.containers.set(id, {
      id,
      name: spec.name ?? id,
      image: spec.image,
      imageId: spec.image,
      labels: { ...spec.labels, [LABELS.managedBy]: "berth" },
      state: {
        status: "created",
        running: false,
        restarting: false,
        exitCode: 0,
        oomKilled: false,
        error: "",
      },
      restartCount: 0,
      ports: [],
      memoryBytes: 0,
      nanoCpus: 0,
      restartPolicy: { name: "no" },
      init: true,
      createdAt: "",
    });
    return id;
  }
  async startContainer(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    if (this.startError) throw this.startError;
    const container = this.mustGet(id);
    container.state = {
      ...container.state,
      status: "running",
      running: true,
      startedAt: "2025-01-01T00:00:00Z",
    };
    container.ports = [
      { containerPort: 8080, protocol: "tcp", hostIp: NODE.bindAddress, hostPort: 32767 + this.next },
    ];
  }
  async inspectContainer(id: string): Promise<ContainerInfo> {
    return structuredClone(this.mustGet(id));
  }
  async stopContainer(id: string): Promise<void> {
    this.calls.push(`stop ${id}`);
  }
  async removeContainer(id: string, _options?: CallOptions & { force?: boolean }): Promise<boolean> {
    this.calls.push(`remove ${id}`);
    return this.containers.delete(id);
  }
  async listContainers(labels: Record<string, string> = {}): Promise<ContainerSummary[]> {
    return [...this.containers.values()]
      .filter((c) => Object.entries(labels).every(([key, value]) => c.labels[key] === value))
      .map((c) => ({
        id: c.id,
        name: c.name,
        image: c.image,
        labels: c.labels,
        state: c.state.status,
        status: "",
        ports: c.ports,
      }));
  }
  async exec() {
    return { exitCode: 0, output: "" };
  }
  /** The container's process ends, as a crash would. */
  exit(id: string, code: number, ranMs: number): void {
    const container = this.mustGet(id);
    const started = Date.parse(container.state.startedAt ?? "2025-01-01T00:00:00Z");
    container.state = {
      ...container.state,
      status: "exited",
      running: false,
      exitCode: code,
      finishedAt: new Date(started + ranMs).toISOString(),
    };
    container.ports = [];
  }
  private mustGet(id: string): ContainerInfo {
    const container = this.containers.get(id);
    if (!container) throw new ContainerNotFoundError("inspect_container", id, "No such container");
    return container;
  }
}

/** Keeps one Instance and applies status and finalizer writes to it, as the API server would. */
class InstanceApi extends FakeKubeClient {
  constructor(public instance: Instance) {
    super();
  }
  override async patchStatus<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    this.calls.push({ verb: "patchStatus", ref, body: patch });
    const status = (patch as { status: Record<string, unknown> }).status;
    const merged = { ...(this.instance.status ?? {}) } as Record<string, unknown>;
    for (const [key, value] of Object.entries(status)) {
      if (value === null) delete merged[key];
      else merged[key] = value;
    }
    this.instance = structuredClone({ ...this.instance, status: merged });
    return structuredClone(this.instance) as unknown as T;
  }
  override async jsonPatch<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T> {
    this.calls.push({ verb: "jsonPatch", ref, body: ops });
    for (const op of ops) {
      if (op.op === "add" || op.op === "replace") this.instance.metadata.finalizers = op.value as string[];
    }
    return structuredClone(this.instance) as unknown as T;
  }
}

function newInstance(): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: {
      namespace: "ns",
      name: "web-0",
      uid: "u1",
      resourceVersion: "1",
      finalizers: [INSTANCE_FINALIZER],
    },
    spec: {
      definition: "web",
      deploymentId: "d1",
      nodeName: "node-a",
      template: { image: { name: "app:1", port: 8080 }, healthCheck: { type: "tcp", intervalSeconds: 1 } },
    },
  };
}

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** Stands in for the source module's ensureSourceImage: answers what the test scripts. */
class FakeBuilder {
  readonly requests: SourceImageRequest[] = [];
  failure: Error | undefined;
  constructor(private readonly docker: FakeDocker) {}
  readonly build = (request: SourceImageRequest): Promise<SourceImage> => {
    this.requests.push(request);
    if (this.failure) return Promise.reject(this.failure);
    const commit = request.commit ?? COMMIT;
    const image = sourceImageTag(request.namespace, request.definition, request.repository, commit);
    const reused = this.docker.images.has(image);
    this.docker.images.add(image);
    return Promise.resolve({
      image,
      imageId: "sha256:1",
      commit,
      port: 8080,
      logPath: "/logs/x.log",
      reused,
    });
  };
}

function repositoryTemplate(): Instance["spec"]["template"] {
  return { repository: { url: "https://git.example/team/web.git", ref: COMMIT } };
}

/** A reconciler as one agent process has it; `world` shares the engine and API with an earlier one. */
function setup(probeOk = true, world?: { clock: FakeClock; docker: FakeDocker; api: InstanceApi }) {
  const clock = world?.clock ?? new FakeClock(Date.parse("2025-01-01T00:00:10Z"));
  const docker = world?.docker ?? new FakeDocker();
  const builder = new FakeBuilder(docker);
  const api = world?.api ?? new InstanceApi(newInstance());
  const events = new RecordingEventRecorder();
  const woken: string[] = [];
  const checks = { ok: probeOk };
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => Promise.resolve({ ok: checks.ok, message: checks.ok ? "connect ok" : "connection refused" }),
    onVerdictChange: (key) => woken.push(key),
  });
  const reconciler = new InstanceReconciler({
    node: NODE,
    docker,
    client: api,
    instances: { get: () => api.instance },
    prober,
    events,
    clock,
    logger: nullLogger,
    crashLoop: { baseMs: 10_000, maxMs: 60_000, resetAfterMs: 600_000 },
    stopGraceSeconds: 5,
    resyncMs: 30_000,
    probeStatusRefreshMs: 60_000,
    buildSourceImage: builder.build,
  });
  const context: ReconcileContext = {
    log: nullLogger,
    reconcileID: "r",
    signal: new AbortController().signal,
    clock,
  };
  const reconcile = () => reconciler.reconcile({ key: "ns/web-0", namespace: "ns", name: "web-0" }, context);
  return { clock, docker, api, events, prober, woken, reconcile, builder, checks };
}

test("a new Instance gets a labelled container, an address, and Running once the probe passes", async () => {
  const { clock, docker, api, woken, reconcile, prober } = setup();
  const result = await reconcile();
  assert.deepEqual(result, { requeueAfterMs: 30_000 });
  const [container] = [...docker.containers.values()];
  assert.ok(container?.state.running);
  assert.equal(container.labels[LABELS.instance], "web-0");
  assert.equal(container.labels[LABELS.node], "node-a");
  let status = api.instance.status;
  assert.equal(status?.phase, "Starting");
  assert.equal(status?.ready, false);
  assert.equal(status?.containerId, container.id);
  assert.deepEqual(status?.address, { host: "10.0.0.5", port: 32768, url: "http://10.0.0.5:32768" });

  await clock.advanceAsync(1, 1);
  assert.deepEqual(woken, ["ns/web-0"], "the verdict change wakes the Instance");
  await reconcile();
  status = api.instance.status;
  assert.equal(status?.phase, "Running");
  assert.equal(status?.ready, true);
  assert.ok(status?.lastProbeTime);
  const writes = api.calls.filter((c) => c.verb === "patchStatus").length;
  await reconcile();
  assert.equal(api.calls.filter((c) => c.verb === "patchStatus").length, writes, "no change, no write");
  prober.stopAll();
});

test("a restarted agent keeps an adopted ready container ready until its own checks fail", async () => {
  const before = setup();
  await before.reconcile();
  await before.clock.advanceAsync(1, 1);
  await before.reconcile();
  assert.equal(before.api.instance.status?.ready, true);
  before.prober.stopAll(); // the agent process ends; its container keeps running

  const after = setup(true, before);
  await after.reconcile();
  const adopted = after.api.instance.status;
  assert.equal(adopted?.containerId, "c1");
  assert.equal(adopted?.ready, true, "no readiness flap while the new process has not checked yet");
  assert.equal(adopted?.phase, "Running");
  assert.deepEqual(
    after.docker.calls.filter((call) => call.startsWith("create")),
    ["create c1"],
    "the running container is adopted, not replaced",
  );

  // Its own checks still decide: failureThreshold (3) failures in a row, 1 s apart.
  after.checks.ok = false;
  await after.clock.advanceAsync(2000, 1);
  await after.reconcile();
  assert.equal(after.api.instance.status?.ready, true, "two failures are below the threshold");
  await after.clock.advanceAsync(1000, 1);
  assert.deepEqual(after.woken, ["ns/web-0"]);
  await after.reconcile();
  assert.equal(after.api.instance.status?.ready, false);
  assert.equal(
    after.api.instance.status?.conditions?.find((c) => c.type === "Ready")?.reason,
    "HealthCheckFailed",
  );
  after.prober.stopAll();
});

test("an exited container is recreated at once with restarts+1; a second quick exit backs off", async () => {
  const { docker, api, events, reconcile, prober } = setup();
  await reconcile();
  docker.exit("c1", 3, 500);
  await reconcile();
  assert.equal(docker.containers.has("c1"), false, "the exited container is replaced");
  assert.equal(api.instance.status?.restarts, 1);
  assert.equal(api.instance.status?.containerId, "c2");
  assert.equal(docker.containers.get("c2")?.labels[RESTARTS_LABEL], "1");

  docker.exit("c2", 3, 500);
  const result = await reconcile();
  assert.ok(result && (result.requeueAfterMs ?? 0) > 0, "waits before the next restart");
  assert.equal(api.instance.status?.phase, "Failed");
  assert.equal(
    api.instance.status?.conditions?.find((c) => c.type === "ContainerReady")?.reason,
    "CrashLoopBackOff",
  );
  assert.match(api.instance.status?.message ?? "", /exited with code 3/);
  assert.ok(events.events.some((e) => e.reason === "CrashLoopBackOff" && e.type === "Warning"));
  assert.equal(
    docker.containers.has("c2"),
    true,
    "the exited container stays for inspection during back-off",
  );
  prober.stopAll();
});

test("a container removed out of band counts as a restart", async () => {
  const { docker, api, reconcile, prober } = setup();
  await reconcile();
  docker.containers.clear();
  await reconcile();
  assert.equal(api.instance.status?.restarts, 1);
  assert.equal(docker.containers.size, 1);
  prober.stopAll();
});

test("a port that is taken fails with HostPortInUse, an Event, and no container left behind", async () => {
  const { docker, api, events, reconcile } = setup();
  docker.startError = new PortInUseError("start_container", 8080, "port is already allocated");
  await assert.rejects(reconcile(), PortInUseError);
  assert.equal(docker.containers.size, 0);
  assert.equal(api.instance.status?.phase, "Failed");
  assert.equal(
    api.instance.status?.conditions?.find((c) => c.type === "ContainerReady")?.reason,
    "HostPortInUse",
  );
  assert.deepEqual(
    events.events.map((e) => e.reason),
    ["HostPortInUse"],
  );
  await assert.rejects(reconcile(), PortInUseError);
  assert.equal(events.events.length, 1, "the same failure again records no second event");
});

test("a missing image is pulled before the container is created", async () => {
  const { docker, api, reconcile, prober } = setup();
  api.instance.spec.template!.image = { name: "other:2", port: 8080 };
  await reconcile();
  assert.deepEqual(docker.calls.slice(0, 2), ["pull other:2", "create c1"]);
  prober.stopAll();
});

test("a deleted Instance has its container stopped and removed before the finalizer goes", async () => {
  const { docker, api, reconcile } = setup();
  await reconcile();
  api.instance.metadata.deletionTimestamp = "2025-01-01T00:01:00Z";
  await reconcile();
  assert.equal(docker.containers.size, 0);
  assert.deepEqual(docker.calls.slice(-2), ["stop c1", "remove c1"]);
  assert.deepEqual(api.instance.metadata.finalizers, []);
  assert.equal(api.instance.status?.phase, "Terminating");
});

test("of two containers for one Instance, the running one is kept", async () => {
  const { docker, reconcile, prober } = setup();
  await reconcile();
  // A leftover from an interrupted create: same labels, never started.
  const spare = await docker.createContainer({
    image: "app:1",
    labels: { ...docker.containers.get("c1")!.labels },
  });
  await reconcile();
  assert.equal(docker.containers.has(spare), false);
  assert.equal(docker.containers.has("c1"), true);
  prober.stopAll();
});

const containerReadyOf = (instance: Instance) =>
  instance.status?.conditions?.find((c) => c.type === "ContainerReady");

test("a repository Instance is built at its pinned commit, then runs like an image Instance", async () => {
  const { docker, api, events, reconcile, prober, builder } = setup();
  api.instance.spec.template = repositoryTemplate();
  const phases: string[] = [];
  const patchStatus = api.patchStatus.bind(api);
  api.patchStatus = async (r, ref, patch) => {
    phases.push((patch as { status: { phase?: string } }).status.phase ?? "");
    return await patchStatus(r, ref, patch);
  };
  await reconcile();
  assert.equal(builder.requests.length, 1);
  assert.equal(builder.requests[0]?.commit, COMMIT, "every replica builds the commit the controller pinned");
  assert.equal(builder.requests[0]?.definition, "web");
  assert.deepEqual(phases, ["Building", "Starting"]);
  const [container] = [...docker.containers.values()];
  assert.match(container?.image ?? "", /^berth-build\/ns\/web:0123456789ab-/);
  assert.equal(container?.labels[SERVICE_PORT_LABEL], "8080");
  assert.equal(api.instance.status?.address?.port, 32768);
  assert.deepEqual(
    events.events.map((e) => `${e.type} ${e.reason}`),
    ["Normal Building", "Normal Built", "Normal Started"],
  );

  // A restart finds the image built: no Building phase, and the build call only reuses it.
  docker.exit(container!.id, 1, 500);
  await reconcile();
  assert.ok(!phases.slice(2).includes("Building"), "a restart of a built commit is no build");
  assert.equal(api.instance.status?.phase, "Starting");
  assert.equal(api.instance.status?.restarts, 1);
  assert.equal(events.events.filter((e) => e.reason === "Building").length, 1);
  prober.stopAll();
});

test("a failed build is Failed with its last output, one Event, and is not built again", async () => {
  const { docker, api, events, reconcile, builder } = setup();
  api.instance.spec.template = repositoryTemplate();
  builder.failure = new SourceBuildError(
    'building https://git.example/team/web.git at commit 0123456789ab failed at "Step 2/3 : RUN make": exit 2',
    "Step 2/3 : RUN make",
    ["Step 2/3 : RUN make", "make: *** No rule to make target 'all'.  Stop."],
    "/logs/x.log",
  );
  await assert.rejects(reconcile(), TerminalError);
  assert.equal(api.instance.status?.phase, "Failed");
  const condition = containerReadyOf(api.instance);
  assert.equal(condition?.reason, "BuildFailed");
  assert.match(condition?.message ?? "", /last build output:\n.*RUN make\nmake: \*\*\* No rule/);
  assert.equal(docker.containers.size, 0);

  // The status write wakes the Instance again: the same commit fails at once, unbuilt.
  await assert.rejects(reconcile(), TerminalError);
  assert.equal(builder.requests.length, 1, "the failing commit is built once");
  assert.deepEqual(
    events.events.filter((e) => e.type === "Warning").map((e) => e.reason),
    ["BuildFailed"],
  );
});

test("an unreachable repository is retried on a backoff of seconds, with one Event", async () => {
  const { clock, api, events, reconcile, builder, prober } = setup();
  api.instance.spec.template = repositoryTemplate();
  builder.failure = new SourceError(
    "RepositoryUnreachable",
    "git could not reach https://git.example/team/web.git",
  );
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(api.instance.status?.phase, "Failed");
  assert.equal(containerReadyOf(api.instance)?.reason, "RepositoryUnreachable");
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 }, "woken early, it waits out the backoff");
  assert.equal(builder.requests.length, 1);
  clock.advance(5000);
  assert.deepEqual(await reconcile(), { requeueAfterMs: 10_000 }, "the wait doubles");
  assert.equal(builder.requests.length, 2);
  assert.equal(events.events.filter((e) => e.reason === "RepositoryUnreachable").length, 1);

  builder.failure = undefined;
  clock.advance(10_000);
  await reconcile();
  assert.equal(
    api.instance.status?.phase,
    "Starting",
    "the repository answers again: it is built and started",
  );
  prober.stopAll();
});

test("a missing pull secret is reported once and retried slowly, without pulling", async () => {
  const { docker, api, events, reconcile } = setup();
  api.instance.spec.template!.image = { name: "127.0.0.1:5000/app:2", port: 8080, pullSecret: "regcred" };
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(containerReadyOf(api.instance)?.reason, "PullSecretNotFound");
  assert.match(api.instance.status?.message ?? "", /pull secret ns\/regcred not found/);
  assert.equal(docker.calls.filter((c) => c.startsWith("pull")).length, 0);
  await reconcile();
  assert.deepEqual(
    events.events.map((e) => e.reason),
    ["PullSecretNotFound"],
  );
});

test("a deleted Instance the cache still shows after its finalizer went is no error", async () => {
  const { docker, api, reconcile } = setup();
  await reconcile();
  api.instance.metadata.deletionTimestamp = "2025-01-01T00:01:00Z";
  api.instance.status = { ...api.instance.status, phase: "Terminating" };
  // The API server has deleted it already: the finalizer patch finds nothing.
  api.jsonPatch = () => Promise.reject(new KubeApiError(404, 'instances.berth.dev "web-0" not found'));
  await reconcile();
  assert.equal(docker.containers.size, 0, "its container is removed all the same");
});
