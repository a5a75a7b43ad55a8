import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../api/types.js";
import { INSTANCE_FINALIZER, LABELS } from "../api/vocabulary.js";
import { EngineUnreachableError, ImageNotFoundError, PortInUseError } from "../docker/errors.js";
import type { Secret } from "../kube/resources.js";
import { KubeApiError } from "../kube/errors.js";
import { FakeClock } from "../testing/fake-clock.js";
import type { ReconcileContext } from "../runtime/controller.js";
import { TerminalError } from "../runtime/controller.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { ENVIRONMENT_DELIVERY_GRACE_MS } from "./failure-policy.js";
import { nullLogger } from "../runtime/log.js";
import { InstanceWritesClient } from "../testing/instance-writes-client.js";
import type { SourceImage, SourceImageRequest } from "../source/builder.js";
import { SourceBuildError, SourceError } from "../source/errors.js";
import { sourceImageTag } from "../source/built-images.js";
import type { DeliveredEnvironment } from "../environment/delivery.js";
import { environmentSecret } from "../environment/delivery.js";
import { START_CHECK_MS } from "./command-failure.js";
import { RESTARTS_LABEL, SERVICE_PORT_LABEL } from "./container-request.js";
import { FakeDocker } from "../testing/fake-docker.js";
import { ImagePreparations } from "./image-preparation.js";
import { ImagePresence } from "./image-presence.js";
import {
  InstanceReconciler,
  PREPARING_RECHECK_MS,
  type InstanceReconcilerOptions,
} from "./instance-reconciler.js";
import { CrashRecords } from "./crash-records.js";
import { Prober } from "./prober.js";

const NODE = { nodeName: "node-a", installation: "inst-a", address: "10.0.0.5", bindAddress: "10.0.0.5" };

/**
 * Keeps one Instance and applies status and finalizer writes to it. Its cache is always
 * current: tests that need the cache behind hold on to an older copy.
 */
class InstanceApi extends InstanceWritesClient {
  /** What the agent's cache shows when it lags behind the API server; current when unset. */
  cacheView: Instance | undefined;
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

/** Lets background image work (fake pulls and builds end at once) run to its end. */
const preparationsSettled = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Stands in for the source module's ensureSourceImage: answers what the test scripts. */
class FakeBuilder {
  readonly requests: SourceImageRequest[] = [];
  failure: Error | undefined;
  /** Builds that never end by themselves: only their signal ends them. */
  hang = false;
  readonly cancelled: string[] = [];
  constructor(private readonly docker: FakeDocker) {}
  readonly build = (request: SourceImageRequest): Promise<SourceImage> => {
    this.requests.push(request);
    if (this.hang) {
      return new Promise((_, reject) => {
        request.signal?.addEventListener("abort", () => {
          this.cancelled.push(request.definition);
          reject(new Error("build cancelled"));
        });
      });
    }
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

const containerReadyOf = (instance: Instance) =>
  instance.status?.conditions?.find((c) => c.type === "ContainerReady");

/** The reconciler the last setup() made, for tests that call it directly. */
const setupReconciler: { last?: InstanceReconciler } = {};

/** A reconciler as one agent process has it; `world` shares the engine and API with an earlier one. */
function setup(
  probeOk = true,
  world?: { clock: FakeClock; docker: FakeDocker; api: InstanceApi; crashRecords: CrashRecords },
  extra: Partial<InstanceReconcilerOptions> = {},
) {
  const clock = world?.clock ?? new FakeClock(Date.parse("2025-01-01T00:00:10Z"));
  // What the state directory keeps across agent processes.
  const crashRecords = world?.crashRecords ?? new CrashRecords(undefined, clock.now());
  const docker = world?.docker ?? new FakeDocker(NODE.bindAddress);
  const builder = new FakeBuilder(docker);
  const api = world?.api ?? new InstanceApi(newInstance());
  const events = new RecordingEventRecorder();
  const woken: string[] = [];
  /** What every check answers, and what happens in the world while it runs. */
  const checks: { ok: boolean; during?: () => void } = { ok: probeOk };
  const targets: string[] = [];
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: (target) => {
      targets.push(`${target.host}:${target.port}`);
      checks.during?.();
      return Promise.resolve({ ok: checks.ok, message: checks.ok ? "connect ok" : "connection refused" });
    },
    // As the agent wires it: a verdict the starting pass waits for wakes no pass.
    onVerdictChange: (key, awaited) => {
      if (!awaited) woken.push(key);
    },
  });
  const environments = new Map<string, Secret>();
  const reconciler = new InstanceReconciler({
    node: NODE,
    docker,
    client: api,
    instances: { get: () => api.cacheView ?? api.instance },
    environments: { get: (namespace, name) => environments.get(`${namespace ?? ""}/${name}`) },
    prober,
    events,
    clock,
    logger: nullLogger,
    crashLoop: { baseMs: 10_000, maxMs: 60_000, resetAfterMs: 600_000 },
    crashRecords,
    stopGraceSeconds: 5,
    resyncMs: 30_000,
    probeStatusRefreshMs: 60_000,
    buildSourceImage: builder.build,
    privilegedPortsAllowed: () => Promise.resolve(false),
    preparations: new ImagePreparations({ limit: 2, onSettled: (key) => woken.push(key) }),
    ...extra,
  });
  setupReconciler.last = reconciler;
  const context: ReconcileContext = {
    log: nullLogger,
    reconcileID: "r",
    signal: new AbortController().signal,
    clock,
  };
  const reconcile = () => reconciler.reconcile({ key: "ns/web-0", namespace: "ns", name: "web-0" }, context);
  /** A pass that may leave a pull or build running, then (once that ended) the pass it wakes. */
  const reconcileImage = async () => {
    const first = await reconcile();
    if (first?.requeueAfterMs !== PREPARING_RECHECK_MS) return first;
    await preparationsSettled();
    return await reconcile();
  };
  return {
    clock,
    docker,
    api,
    events,
    prober,
    woken,
    reconcile,
    reconcileImage,
    builder,
    checks,
    targets,
    environments,
    crashRecords,
  };
}

test("a new Instance gets a labelled container, an address, and Running once the probe passes", async () => {
  const { clock, docker, api, woken, reconcile, prober } = setup();
  const result = await reconcile();
  assert.deepEqual(result, { requeueAfterMs: START_CHECK_MS }, "looked at again when it counts as started");
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

test("with a first-check wait, a server that answers at once is written Ready in the first status write", async () => {
  const { docker, api, events, woken, reconcile, prober } = setup(true, undefined, {
    firstCheckWaitMs: 100,
  });
  // An HTTP answer comes from the user's process (a TCP check, below, may be the port proxy's).
  api.instance.spec.template!.healthCheck = { type: "http", path: "/", intervalSeconds: 1 };
  const inspected: string[] = [];
  const inspect = docker.inspectContainer.bind(docker);
  docker.inspectContainer = async (id: string) => {
    inspected.push(id);
    return await inspect(id);
  };
  const result = await reconcile();
  const status = api.instance.status;
  assert.equal(status?.phase, "Running");
  assert.equal(status?.ready, true);
  assert.ok(status?.lastProbeTime);
  assert.equal(
    api.calls.filter((c) => c.verb === "patchStatus").length,
    1,
    "one write, not Starting then Running",
  );
  // The check the pass waited for counts once a second inspect, after it, still finds the
  // container running: "Started" in this pass, and no second pass woken for the verdict.
  assert.deepEqual(inspected, ["c1", "c1"], "inspected after the start and again after the check");
  assert.deepEqual(
    events.events.filter((e) => e.reason === "Started").map((e) => e.message),
    ["started container c1 from app:1 on node node-a"],
  );
  assert.deepEqual(woken, [], "the verdict this pass read wakes no second pass");
  assert.deepEqual(result, { requeueAfterMs: 30_000 }, "back at the resync, the start check done");
  await reconcile();
  assert.equal(events.events.filter((e) => e.reason === "Started").length, 1, "said once");
  assert.equal(api.calls.filter((c) => c.verb === "patchStatus").length, 1, "and nothing new written");
  prober.stopAll();
});

test("a TCP check passed during the starting pass writes Ready but says Started only after the start check", async () => {
  const { api, events, reconcile, prober } = setup(true, undefined, { firstCheckWaitMs: 100 });
  const result = await reconcile();
  assert.equal(api.instance.status?.ready, true);
  assert.deepEqual(
    events.events.filter((e) => e.reason === "Started"),
    [],
    "the engine's port proxy answers a TCP check even for a command that fails to exec a moment later",
  );
  const requeue = (result as { requeueAfterMs?: number }).requeueAfterMs ?? 0;
  assert.ok(
    requeue > 0 && requeue <= START_CHECK_MS,
    `looked at again once the start check is due: ${requeue}`,
  );
  prober.stopAll();
});

test("a check passed during the starting pass for a container that died meanwhile is neither Ready nor Started", async () => {
  const { docker, api, events, checks, reconcile, prober } = setup(true, undefined, {
    firstCheckWaitMs: 100,
  });
  api.instance.spec.template!.command = ["/no/such/binary"];
  docker.logs.set("c1", "[FATAL tini (7)] exec /no/such/binary failed: No such file or directory\n");
  // The init fails to exec the command and exits; the engine's port proxy still accepts the
  // TCP check, so it passes.
  checks.during = () => {
    if (docker.containers.get("c1")?.state.running) docker.exit("c1", 127, 3);
  };
  const result = await reconcile();
  assert.deepEqual(result, { requeueAfterMs: 1 }, "looked at again at once");
  const statusWrites = api.calls.filter((c) => c.verb === "patchStatus");
  assert.ok(
    statusWrites.every((c) => (c.body as { status: { ready?: boolean } }).status.ready !== true),
    "never written Ready",
  );
  assert.ok(!events.events.some((e) => e.reason === "Started"), "not Started");
  await assert.rejects(reconcile(), TerminalError);
  assert.equal(containerReadyOf(api.instance)?.reason, "CommandNotFound");
  assert.ok(!events.events.some((e) => e.reason === "Started"), "never Started");
  prober.stopAll();
});

test("with a first-check wait, a server that does not answer yet is written Starting, and the verdict decides", async () => {
  const { api, reconcile, prober } = setup(false, undefined, { firstCheckWaitMs: 100 });
  await reconcile();
  assert.equal(api.instance.status?.phase, "Starting");
  assert.equal(api.instance.status?.ready, false);
  assert.match(api.instance.status?.message ?? "", /connection refused/, "the first check's miss is said");
  prober.stopAll();
});

test("a pass before the cache shows the agent's own status write starts from that write", async () => {
  const { api, reconcile, prober } = setup();
  api.cacheView = structuredClone(api.instance);
  const statusWrites = () => api.calls.filter((call) => call.verb === "patchStatus");
  await reconcile();
  assert.ok(statusWrites().length > 0, "the first pass writes a status");
  // The cache still shows the Instance as it was before any write: each further write goes
  // over the resourceVersion the agent's own last write produced, never the stale one (which
  // the API server would refuse as a conflict), and a pass with nothing new writes nothing.
  await reconcile();
  await reconcile();
  const versions = statusWrites().map(
    (call) => (call.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion,
  );
  assert.equal(
    new Set(versions).size,
    versions.length,
    `every write over a new resourceVersion: ${versions.join(",")}`,
  );
  const settled = statusWrites().length;
  await reconcile();
  assert.equal(statusWrites().length, settled, "nothing new, nothing written");
  assert.equal(api.instance.status?.phase, "Running");

  // Once the cache shows something newer, that is what the pass starts from.
  api.cacheView = undefined;
  await reconcile();
  assert.equal(statusWrites().length, settled);
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
  // Woken twice: by its first own check (which agreed with the adopted verdict: the pass
  // writes this process's probe time) and by the verdict turning Failed.
  assert.deepEqual(after.woken, ["ns/web-0", "ns/web-0"]);
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

test("a port that is taken fails with HostPortInUse, one Event, no container left, and backs off", async () => {
  const { clock, docker, api, events, reconcile, prober } = setup();
  docker.startError = new PortInUseError("start_container", 8080, "port is already allocated");
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(docker.containers.size, 0);
  assert.equal(api.instance.status?.phase, "Failed");
  assert.equal(
    api.instance.status?.conditions?.find((c) => c.type === "ContainerReady")?.reason,
    "HostPortInUse",
  );
  assert.match(api.instance.status?.message ?? "", /port 8080 is already in use.*; retrying in 5 s$/);
  const creates = () => docker.calls.filter((call) => call.startsWith("create")).length;
  // Its own container's destroy event and its status write wake it early: it waits.
  clock.advance(1000);
  assert.deepEqual(await reconcile(), { requeueAfterMs: 4000 });
  assert.equal(creates(), 1, "no try before the back-off is over");
  for (const wait of [10_000, 20_000, 40_000]) {
    clock.advance(60_000);
    assert.deepEqual(await reconcile(), { requeueAfterMs: wait }, "each failure doubles the wait");
  }
  assert.equal(creates(), 4);
  assert.deepEqual(
    events.events.map((e) => e.reason),
    ["HostPortInUse"],
    "the same failure again records no second event",
  );

  docker.startError = undefined;
  clock.advance(40_000);
  await reconcile();
  assert.equal(api.instance.status?.phase, "Starting", "the port is free: it starts");
  docker.startError = new PortInUseError("start_container", 8080, "port is already allocated");
  docker.exit([...docker.containers.keys()][0]!, 1, 500);
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 }, "a success starts the back-off afresh");
  prober.stopAll();
});

test("a command that does not exist: CommandNotFound with the init's words, no Started, no retry", async () => {
  const { clock, docker, api, events, reconcile } = setup();
  api.instance.spec.template!.command = ["/no/such/binary"];
  await reconcile();
  docker.logs.set("c1", "[FATAL tini (7)] exec /no/such/binary failed: No such file or directory\n");
  docker.exit("c1", 127, 3);
  await assert.rejects(reconcile(), TerminalError);
  const status = api.instance.status;
  assert.equal(status?.phase, "Failed");
  assert.equal(containerReadyOf(api.instance)?.reason, "CommandNotFound");
  assert.match(status?.message ?? "", /command \/no\/such\/binary was not found in the image/);
  assert.match(status?.message ?? "", /exec \/no\/such\/binary failed: No such file or directory/);
  assert.equal(status?.containerId, "c1", "the container stays for docker logs");
  assert.equal(status?.restarts, 0);
  assert.deepEqual(
    events.events.map((e) => `${e.type} ${e.reason}`),
    ["Warning CommandNotFound"],
    "no Started: the user's process never ran",
  );
  clock.advance(600_000);
  assert.equal(await reconcile(), undefined, "not tried again while the Instance stays the same");
  assert.deepEqual(
    docker.calls.filter((call) => call.startsWith("create")),
    ["create c1"],
  );
});

test("a terminal failure whose status write is refused is found again and said, not dropped", async () => {
  const { docker, api, reconcile } = setup();
  api.instance.spec.template!.command = ["/www/healthz"];
  await reconcile();
  docker.logs.set("c1", "[FATAL tini (7)] exec /www/healthz failed: Permission denied\n");
  docker.exit("c1", 126, 2);
  const patchStatus = api.patchStatus.bind(api);
  let refusals = 1;
  api.patchStatus = async (r, ref, patch) => {
    if (refusals-- > 0) throw new Error("the object has been modified (a cache a step behind)");
    return await patchStatus(r, ref, patch);
  };
  await assert.rejects(reconcile(), /has been modified/, "the write's error goes to the work queue");
  assert.notEqual(containerReadyOf(api.instance)?.reason, "CommandNotExecutable");
  await assert.rejects(reconcile(), TerminalError);
  assert.equal(containerReadyOf(api.instance)?.reason, "CommandNotExecutable", "the retry says it");
  assert.equal(api.instance.status?.phase, "Failed");
});

test("a file that is not executable: CommandNotExecutable", async () => {
  const { docker, api, events, reconcile } = setup();
  api.instance.spec.template!.command = ["/www/healthz"];
  await reconcile();
  docker.logs.set("c1", "[FATAL tini (7)] exec /www/healthz failed: Permission denied\n");
  docker.exit("c1", 126, 2);
  await assert.rejects(reconcile(), TerminalError);
  assert.equal(containerReadyOf(api.instance)?.reason, "CommandNotExecutable");
  assert.match(
    api.instance.status?.message ?? "",
    /command \/www\/healthz is not executable.*Permission denied/,
  );
  assert.ok(!events.events.some((e) => e.reason === "Started"));
});

test("Started is recorded once the process has run for the start check, or at its first exit", async () => {
  const { clock, docker, events, reconcile, prober } = setup(false);
  await reconcile();
  assert.ok(!events.events.some((e) => e.reason === "Started"), "not at once");
  clock.advance(START_CHECK_MS);
  await reconcile();
  assert.deepEqual(
    events.events.filter((e) => e.reason === "Started").map((e) => e.message),
    ["started container c1 from app:1 on node node-a"],
  );
  await reconcile();
  assert.equal(events.events.filter((e) => e.reason === "Started").length, 1);

  // A process that ran and exited with its own code did start.
  docker.exit("c1", 3, 100);
  await reconcile();
  docker.exit("c2", 3, 100);
  await reconcile();
  assert.equal(events.events.filter((e) => e.reason === "Started").length, 2);
  prober.stopAll();
});

test("a container removed outside Berth is reported once and recreated as a restart", async () => {
  const { docker, api, events, reconcile, prober } = setup();
  await reconcile();
  // docker rm -f: the engine shows it as being removed first.
  docker.containers.get("c1")!.state = {
    ...docker.containers.get("c1")!.state,
    running: false,
    status: "removing",
  };
  assert.deepEqual(await reconcile(), { requeueAfterMs: 500 });
  assert.equal(containerReadyOf(api.instance)?.reason, "ContainerRemovedExternally");
  assert.match(api.instance.status?.message ?? "", /container c1 was removed outside Berth/);
  assert.equal(
    docker.calls.filter((call) => call === "remove c1").length,
    0,
    "Berth leaves it to its remover",
  );
  assert.deepEqual(await reconcile(), { requeueAfterMs: 500 }, "still being removed");
  docker.containers.delete("c1");
  await reconcile();
  assert.equal(api.instance.status?.containerId, "c2");
  assert.equal(api.instance.status?.restarts, 1);
  assert.deepEqual(
    events.events.filter((e) => e.type === "Warning").map((e) => e.reason),
    ["ContainerRemovedExternally"],
  );
  prober.stopAll();
});

test("an engine that does not answer backs off, and is tried at once when its events are back", async () => {
  const { docker, api, reconcile, prober } = setup();
  const list = docker.listContainers.bind(docker);
  docker.listContainers = () =>
    Promise.reject(new EngineUnreachableError("list_containers", docker.url, "connect ECONNREFUSED"));
  const reconciler = setupReconciler.last!;
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(containerReadyOf(api.instance)?.status, "Unknown");
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 }, "woken early, it waits");
  docker.listContainers = list;
  assert.deepEqual(reconciler.engineAnswersAgain(), ["ns/web-0"]);
  await reconcile();
  assert.equal(api.instance.status?.phase, "Starting");
  prober.stopAll();
});

test("a missing image is pulled off the worker, and its end wakes the Instance to create the container", async () => {
  const { docker, api, reconcile, prober, woken } = setup();
  api.instance.spec.template!.image = { name: "other:2", port: 8080 };
  assert.deepEqual(await reconcile(), { requeueAfterMs: PREPARING_RECHECK_MS }, "the pass does not wait");
  assert.equal(api.instance.status?.phase, "Pulling");
  await preparationsSettled();
  assert.deepEqual(woken, ["ns/web-0"], "the pull's end wakes the Instance");
  await reconcile();
  assert.deepEqual(docker.calls.slice(0, 2), ["pull other:2", "create c1"]);
  prober.stopAll();
});

test("an image removed after it was found is pulled again: the create's No such image forgets it", async () => {
  const presence = new ImagePresence();
  presence.streaming(true);
  const { docker, api, clock, reconcile, reconcileImage, prober } = setup(true, undefined, {
    imagePresence: presence,
  });
  // A first Instance finds app:1; the record keeps it.
  assert.ok(await presence.find(docker, "app:1", new AbortController().signal));
  // The image goes without the event reaching the agent yet (docker rmi, an event still on its way).
  docker.images.delete("app:1");
  const create = docker.createContainer.bind(docker);
  docker.createContainer = async (spec) => {
    if (!docker.images.has(spec.image))
      throw new ImageNotFoundError("create_container", spec.image, "No such image");
    return await create(spec);
  };
  const failed = await reconcile();
  assert.ok(failed?.requeueAfterMs !== undefined && failed.requeueAfterMs > 0, "retried later");
  assert.ok(!docker.calls.some((call) => call.startsWith("pull")), "the record said it was there");
  clock.advance(failed.requeueAfterMs);
  await reconcileImage();
  assert.deepEqual(
    docker.calls.filter((call) => call.startsWith("pull") || call.startsWith("create")),
    ["pull app:1", "create c1"],
    "the retry pulled the image again, then created the container",
  );
  assert.equal(api.instance.status?.containerId, "c1");
  prober.stopAll();
});

test("an image name that would rewrite the engine's API path fails for good, before any Docker call", async () => {
  const { docker, api, events, reconcile } = setup();
  api.instance.spec.template!.image = { name: "x/../../images/get?names=big&a=", port: 8080 };
  const looked: string[] = [];
  docker.imageExists = (image: string) => {
    looked.push(image);
    return Promise.resolve(false);
  };
  await assert.rejects(reconcile(), TerminalError);
  assert.deepEqual([...looked, ...docker.calls], []);
  assert.equal(api.instance.status?.phase, "Failed");
  const condition = api.instance.status?.conditions?.find((c) => c.type === "ContainerReady");
  assert.equal(condition?.reason, "InvalidImageName");
  assert.match(condition?.message ?? "", /image\.name "x\/\.\.\/\.\.\/images\/get.*not an image reference/);
  assert.deepEqual(
    events.events.map((e) => e.reason),
    ["InvalidImageName"],
  );
});

for (const [field, value, says] of [
  ["cpus", "0.0000000001", /less than 10m/],
  ["memory", "99999999999999999999", /too large/],
] as const) {
  test(`resources.${field} "${value}" fails for good with InvalidResources on the first pass`, async () => {
    const { docker, api, events, reconcile } = setup();
    // An image not on the node yet: a pull would come first if the limits were not checked.
    api.instance.spec.template!.image = { name: "app:2", port: 8080 };
    api.instance.spec.template!.resources = { [field]: value };
    await assert.rejects(reconcile(), TerminalError);
    assert.deepEqual(
      docker.calls.filter((call) => !call.startsWith("list")),
      [],
      "no pull, build or container for it",
    );
    assert.equal(api.instance.status?.phase, "Failed");
    const condition = api.instance.status?.conditions?.find((c) => c.type === "ContainerReady");
    assert.equal(condition?.reason, "InvalidResources");
    assert.match(condition?.message ?? "", new RegExp(`resources\\.${field} "${value}"`));
    assert.match(condition?.message ?? "", says);
    assert.deepEqual(
      events.events.map((e) => e.reason),
      ["InvalidResources"],
    );
  });
}

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

test("another installation's container for an Instance of the same name is neither kept nor removed", async () => {
  const { docker, reconcile, prober } = setup();
  const theirs = await docker.createContainer({
    image: "app:1",
    labels: {
      [LABELS.installation]: "inst-b",
      [LABELS.node]: "node-a",
      [LABELS.namespace]: "ns",
      [LABELS.instance]: "web-0",
      [SERVICE_PORT_LABEL]: "8080",
    },
  });
  await docker.startContainer(theirs);
  await reconcile();
  assert.deepEqual(
    docker.calls.filter((call) => /^(create|stop|remove)/.test(call)),
    [`create ${theirs}`, "create c2"],
  );
  assert.equal(docker.containers.get("c2")?.labels[LABELS.installation], "inst-a");
  prober.stopAll();
});

test("a running container from before the installation label is adopted, not replaced", async () => {
  const { docker, api, reconcile, prober } = setup();
  const old = await docker.createContainer({
    image: "app:1",
    labels: {
      [LABELS.node]: "node-a",
      [LABELS.namespace]: "ns",
      [LABELS.instance]: "web-0",
      [SERVICE_PORT_LABEL]: "8080",
    },
  });
  await docker.startContainer(old);
  await reconcile();
  assert.deepEqual(
    docker.calls.filter((call) => call.startsWith("create")),
    [`create ${old}`],
  );
  assert.equal(api.instance.status?.containerId, old);
  prober.stopAll();
});

test("an unpublished health port is checked at the container's address, a published one where it is bound", async () => {
  const unpublished = setup();
  unpublished.api.instance.spec.template!.healthCheck = { type: "tcp", port: 9090, intervalSeconds: 1 };
  await unpublished.reconcile();
  await unpublished.clock.advanceAsync(1, 1);
  assert.deepEqual(unpublished.targets, ["172.17.0.2:9090"]);
  assert.equal(unpublished.api.instance.status?.address?.url, "http://10.0.0.5:32768");
  unpublished.prober.stopAll();

  const service = setup();
  await service.reconcile();
  await service.clock.advanceAsync(1, 1);
  assert.deepEqual(service.targets, ["10.0.0.5:32768"], "the service port is checked where clients reach it");
  service.prober.stopAll();
});

test("a hostPort below 1024 on a Node without allowPrivilegedPorts fails with a reason, and no container", async () => {
  const { docker, api, events, reconcile } = setup();
  api.instance.spec.hostPort = 80;
  const result = await reconcile();
  assert.ok((result?.requeueAfterMs ?? 0) > 0, "retried later: an admin may allow it");
  assert.equal(docker.containers.size, 0);
  const condition = containerReadyOf(api.instance);
  assert.equal(condition?.reason, "PrivilegedPortNotAllowed");
  assert.match(condition?.message ?? "", /hostPort 80 .*spec\.allowPrivilegedPorts/);
  assert.deepEqual(
    events.events.map((e) => e.reason),
    ["PrivilegedPortNotAllowed"],
  );
});

test("a repository Instance is built at its pinned commit, then runs like an image Instance", async () => {
  const { clock, docker, api, events, reconcile, reconcileImage, prober, builder } = setup();
  api.instance.spec.template = repositoryTemplate();
  const phases: string[] = [];
  const patchStatus = api.patchStatus.bind(api);
  api.patchStatus = async (r, ref, patch) => {
    phases.push((patch as { status: { phase?: string } }).status.phase ?? "");
    return await patchStatus(r, ref, patch);
  };
  await reconcileImage();
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
    ["Normal Building", "Normal Built"],
  );
  clock.advance(START_CHECK_MS);
  await reconcile();
  assert.equal(events.events.at(-1)?.reason, "Started");

  // A restart finds the image built: no Building phase, and the build call only reuses it.
  docker.exit(container!.id, 1, 500);
  await reconcile();
  assert.ok(!phases.slice(2).includes("Building"), "a restart of a built commit is no build");
  assert.equal(api.instance.status?.phase, "Starting");
  assert.equal(api.instance.status?.restarts, 1);
  assert.equal(events.events.filter((e) => e.reason === "Building").length, 1);
  prober.stopAll();
});

test("deleting an Instance whose image is being built cancels the build and lets the Instance go", async () => {
  const { api, reconcile, builder, docker } = setup();
  api.instance.spec.template = repositoryTemplate();
  builder.hang = true;
  assert.deepEqual(await reconcile(), { requeueAfterMs: PREPARING_RECHECK_MS });
  assert.equal(api.instance.status?.phase, "Building");
  assert.deepEqual(await reconcile(), { requeueAfterMs: PREPARING_RECHECK_MS }, "one build, looked at again");
  assert.equal(builder.requests.length, 1);
  api.instance.metadata.deletionTimestamp = "2025-01-01T00:01:00Z";
  await reconcile();
  await preparationsSettled();
  assert.deepEqual(builder.cancelled, ["web"], "the build's signal fired");
  assert.ok(!api.instance.metadata.finalizers?.includes(INSTANCE_FINALIZER), "the finalizer is gone");
  assert.equal(docker.containers.size, 0);
});

test("a failed build is Failed with its last output, one Event, and is not built again", async () => {
  const { docker, api, events, reconcile, reconcileImage, builder } = setup();
  api.instance.spec.template = repositoryTemplate();
  builder.failure = new SourceBuildError(
    'building https://git.example/team/web.git at commit 0123456789ab failed at "Step 2/3 : RUN make": exit 2',
    "Step 2/3 : RUN make",
    ["Step 2/3 : RUN make", "make: *** No rule to make target 'all'.  Stop."],
    "/logs/x.log",
  );
  await assert.rejects(reconcileImage(), TerminalError);
  assert.equal(api.instance.status?.phase, "Failed");
  const condition = containerReadyOf(api.instance);
  assert.equal(condition?.reason, "BuildFailed");
  assert.match(condition?.message ?? "", /last build output:\n.*RUN make\nmake: \*\*\* No rule/);
  assert.equal(docker.containers.size, 0);

  // The status write wakes the Instance again: it stays failed until it changes, unbuilt.
  assert.equal(await reconcile(), undefined);
  assert.equal(builder.requests.length, 1, "the failing commit is built once");
  assert.deepEqual(
    events.events.filter((e) => e.type === "Warning").map((e) => e.reason),
    ["BuildFailed"],
  );
});

test("an unreachable repository is retried on a backoff of seconds, with one Event", async () => {
  const { clock, api, events, reconcile, reconcileImage, builder, prober } = setup();
  api.instance.spec.template = repositoryTemplate();
  builder.failure = new SourceError(
    "RepositoryUnreachable",
    "git could not reach https://git.example/team/web.git",
  );
  assert.deepEqual(await reconcileImage(), { requeueAfterMs: 5000 });
  assert.equal(api.instance.status?.phase, "Failed");
  assert.equal(containerReadyOf(api.instance)?.reason, "RepositoryUnreachable");
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 }, "woken early, it waits out the backoff");
  assert.equal(builder.requests.length, 1);
  clock.advance(5000);
  assert.deepEqual(await reconcileImage(), { requeueAfterMs: 10_000 }, "the wait doubles");
  assert.equal(builder.requests.length, 2);
  assert.equal(events.events.filter((e) => e.reason === "RepositoryUnreachable").length, 1);

  builder.failure = undefined;
  clock.advance(10_000);
  await reconcileImage();
  assert.equal(
    api.instance.status?.phase,
    "Starting",
    "the repository answers again: it is built and started",
  );
  prober.stopAll();
});

/** Makes the Instance one whose environment the controller delivers, and delivers `content`. */
function deliver(
  api: InstanceApi,
  environments: Map<string, Secret>,
  content: DeliveredEnvironment | undefined,
): void {
  api.instance.spec.environmentFrom = "NodeSecret";
  const secret = environmentSecret(api.instance, content ?? { env: [] });
  const key = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
  if (content) environments.set(key, secret);
  else environments.delete(key);
}

test("a missing pull secret is reported once and retried slowly, without pulling", async () => {
  const { docker, api, events, reconcile, environments } = setup();
  api.instance.spec.template!.image = { name: "127.0.0.1:5000/app:2", port: 8080, pullSecret: "regcred" };
  deliver(api, environments, {
    env: [],
    pull: {
      problem: { reason: "PullSecretNotFound", message: "pull secret ns/regcred not found: create it" },
    },
  });
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

test("the delivered environment and pull credentials reach the container and the pull", async () => {
  const { docker, api, reconcileImage, environments, prober } = setup();
  api.instance.spec.template!.image = { name: "127.0.0.1:5000/app:2", port: 8080, pullSecret: "regcred" };
  const auth = { username: "robot", password: "pa55", serverAddress: "127.0.0.1:5000" };
  deliver(api, environments, {
    env: [
      ["PASSWORD", "from-secret"],
      ["MODE", "envFrom"],
      ["MODE", "env"],
    ],
    pull: { auth },
  });
  await reconcileImage();
  assert.deepEqual(docker.pullAuths, [auth]);
  const [container] = [...docker.containers.values()];
  assert.ok(container?.state.running, "started");
  assert.deepEqual(docker.createdEnv.at(-1), { PASSWORD: "from-secret", MODE: "env" });
  assert.doesNotMatch(JSON.stringify(api.instance.status), /from-secret|pa55/);
  prober.stopAll();
});

test("until its environment is delivered (for this very Instance) it waits, Scheduled, and starts nothing", async () => {
  const { clock, docker, api, events, reconcile, environments, prober } = setup();
  deliver(api, environments, undefined);
  // The delivery follows the binding: for a grace period the wait is not said at all.
  const statusBefore = structuredClone(api.instance.status);
  assert.deepEqual(await reconcile(), { requeueAfterMs: ENVIRONMENT_DELIVERY_GRACE_MS });
  clock.advance(ENVIRONMENT_DELIVERY_GRACE_MS - 1);
  assert.deepEqual(await reconcile(), { requeueAfterMs: 1 });
  assert.deepEqual(api.instance.status, statusBefore, "no status write within the grace");
  assert.equal(events.events.length, 0, "no Event within the grace");
  clock.advance(1);
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(api.instance.status?.phase, "Scheduled");
  assert.equal(containerReadyOf(api.instance)?.reason, "EnvironmentNotDelivered");
  assert.deepEqual(
    events.events.map((e) => `${e.type} ${e.reason}`),
    ["Warning EnvironmentNotDelivered"],
  );
  assert.equal(docker.containers.size, 0);

  // A Secret left for an earlier Instance of the same name is not this one's.
  deliver(api, environments, { env: [["A", "old"]] });
  const uid = api.instance.metadata.uid;
  api.instance.metadata.uid = "u0";
  deliver(api, environments, { env: [["A", "old"]] });
  api.instance.metadata.uid = uid;
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(docker.containers.size, 0);

  deliver(api, environments, { env: [["A", "1"]] });
  await reconcile();
  assert.equal(docker.containers.size, 1);
  assert.deepEqual(docker.createdEnv.at(-1), { A: "1" });
  prober.stopAll();
});

test("a problem the controller delivered is the Instance's reason; an Instance made by hand reads no Secret", async () => {
  const { docker, api, reconcile, environments } = setup();
  deliver(api, environments, {
    env: [],
    problem: { reason: "CreateContainerConfigError", message: 'env PASSWORD: Secret "creds" not found' },
  });
  // Retried on the one retry policy, like any failed step.
  assert.deepEqual(await reconcile(), { requeueAfterMs: 5000 });
  assert.equal(containerReadyOf(api.instance)?.reason, "CreateContainerConfigError");
  assert.match(api.instance.status?.message ?? "", /Secret "creds" not found/);

  delete api.instance.spec.environmentFrom;
  api.instance.spec.template!.env = [
    { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
  ];
  // A changed spec is a new generation, which the retry policy tries at once.
  api.instance.metadata.generation = (api.instance.metadata.generation ?? 1) + 1;
  assert.ok(await reconcile());
  assert.equal(containerReadyOf(api.instance)?.reason, "CreateContainerConfigError");
  assert.match(
    api.instance.status?.message ?? "",
    /only an Instance whose environment the controller delivers/,
  );
  assert.equal(docker.containers.size, 0);
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

test("a pass before the cache shows the deletion of an Instance the agent let go sends no finalizer patch again", async () => {
  const { docker, api, reconcile } = setup();
  await reconcile();
  api.instance.metadata.deletionTimestamp = "2025-01-01T00:01:00Z";
  await reconcile();
  assert.equal(docker.containers.size, 0);
  // The API server has deleted it, and the cache shows the agent's Terminating write but not
  // the deletion yet: the engine's events of the removed container wake the Instance again.
  api.cacheView = structuredClone(api.instance);
  api.cacheView.metadata.finalizers = [INSTANCE_FINALIZER];
  const refused: string[] = [];
  const gone = (verb: string) => () => {
    refused.push(verb);
    return Promise.reject(new KubeApiError(404, 'instances.berth.dev "web-0" not found'));
  };
  api.jsonPatch = gone("finalizer patch");
  api.patchStatus = gone("status patch");
  await reconcile().catch(() => undefined);
  assert.deepEqual(refused, [], "nothing is written for an Instance already let go");
  assert.deepEqual(docker.calls.slice(-2), ["stop c1", "remove c1"], "no container is left to remove");

  // A new Instance of the same name (another uid), deleted, still has its finalizer removed.
  api.cacheView = { ...structuredClone(api.cacheView), metadata: { ...api.cacheView.metadata, uid: "u2" } };
  await reconcile();
  assert.deepEqual(refused, ["finalizer patch"], "its 404 is taken as gone, as wanted");
});

test("a container of an Instance the agent let go is still removed while the cache shows the Instance", async () => {
  const { docker, api, reconcile } = setup();
  await reconcile();
  const labels = { ...docker.containers.get("c1")!.labels };
  api.instance.metadata.deletionTimestamp = "2025-01-01T00:01:00Z";
  await reconcile();
  api.cacheView = structuredClone(api.instance);
  api.cacheView.metadata.finalizers = [INSTANCE_FINALIZER];
  const patches = api.calls.length;
  // A container of it the engine lists after all (a create that was still under way, say):
  // it goes, and no write with it.
  await docker.createContainer({ name: "web-0-late", image: "app:1", labels });
  await reconcile();
  assert.equal(docker.containers.size, 0);
  assert.equal(api.calls.length, patches);
});

test("a failed liveness check stops the container; its replacement is a counted restart, and a second one backs off", async () => {
  const { clock, docker, api, events, reconcile, prober, checks } = setup();
  const template = api.instance.spec.template;
  assert.ok(template);
  template.livenessCheck = { type: "tcp", intervalSeconds: 1, failureThreshold: 2 };
  await reconcile();
  await clock.advanceAsync(1, 1);
  await reconcile();
  assert.equal(api.instance.status?.ready, true);

  checks.ok = false;
  await clock.advanceAsync(1000, 1);
  await reconcile();
  assert.ok(!docker.calls.includes("stop c1"), "one failure is below the threshold");
  await clock.advanceAsync(1000, 1);
  assert.deepEqual(await reconcile(), { requeueAfterMs: 1 });
  assert.ok(docker.calls.includes("stop c1"), "the second failure in a row stops it");
  const failed = events.events.filter((e) => e.reason === "LivenessCheckFailed");
  assert.equal(failed.length, 1);
  assert.match(failed[0]?.message ?? "", /liveness check failed 2 times in a row \(connection refused\)/);

  docker.exit("c1", 137, 5000);
  checks.ok = true;
  await reconcile();
  assert.equal(api.instance.status?.containerId, "c2");
  assert.equal(api.instance.status?.restarts, 1, "counted as a restart");

  checks.ok = false;
  await clock.advanceAsync(1, 1);
  await clock.advanceAsync(1000, 1);
  await clock.advanceAsync(1000, 1);
  await reconcile();
  assert.ok(docker.calls.includes("stop c2"));
  // It stopped just now, after a short run.
  const startedAt = Date.parse(docker.containers.get("c2")?.state.startedAt ?? "");
  docker.exit("c2", 137, clock.now() - startedAt);
  const waiting = await reconcile();
  assert.ok(waiting && (waiting.requeueAfterMs ?? 0) > 0, "the crash-loop back-off applies");
  const containerReady = api.instance.status?.conditions?.find((c) => c.type === "ContainerReady");
  assert.equal(containerReady?.reason, "CrashLoopBackOff");
  assert.match(containerReady?.message ?? "", /stopped: liveness check failed/);
  assert.equal(api.instance.status?.restarts, 1);
  prober.stopAll();
});

test("a restarted agent still waits out the crash-loop back-off the one before it recorded", async () => {
  const before = setup();
  await before.reconcile();
  before.docker.exit("c1", 3, 500);
  await before.reconcile();
  assert.equal(before.api.instance.status?.restarts, 1);
  before.docker.exit("c2", 3, 500);
  const waiting = await before.reconcile();
  assert.ok(waiting && (waiting.requeueAfterMs ?? 0) > 0);
  before.prober.stopAll(); // the agent process ends during the back-off

  const after = setup(true, before);
  await after.clock.advanceAsync(4_000, 1);
  const still = await after.reconcile();
  assert.ok(still && (still.requeueAfterMs ?? 0) > 0, "the new process waits too");
  assert.ok(after.docker.containers.has("c2"), "no restart yet");
  assert.equal(after.api.instance.status?.restarts, 1);
  await after.clock.advanceAsync(6_000, 1);
  await after.reconcile();
  assert.equal(after.api.instance.status?.restarts, 2, "restarted once the back-off ran out");
  after.prober.stopAll();
});
