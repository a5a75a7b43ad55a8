/**
 * The watch events of the agent's own writes (its finalizer, its status) start no pass of
 * its own: each such pass cost a container list and an inspect, at a burst's busiest. Any
 * change by someone else still does. The agent wires the reconciler's isOwnWrite in as its
 * Instance controller's update predicate (agent-parts.ts); the queue here does the same. The
 * engine's start event of a container the agent started itself starts no pass either.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instance } from "../api/types.js";
import { INSTANCE_FINALIZER, LABELS } from "../api/vocabulary.js";
import type { ContainerInfo, ContainerSummary } from "../docker/types.js";
import type { ReconcileContext } from "../runtime/controller.js";
import { nullLogger } from "../runtime/log.js";
import { FakeClock } from "../testing/fake-clock.js";
import { FakeDocker } from "../testing/fake-docker.js";
import { InstanceWritesClient } from "../testing/instance-writes-client.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { CrashRecords } from "./crash-records.js";
import { ImagePreparations } from "./image-preparation.js";
import { engineEvents } from "./engine-events.js";
import { InstanceReconciler } from "./instance-reconciler.js";
import { Prober } from "./prober.js";

const NODE = { nodeName: "node-a", installation: "inst-a", address: "10.0.0.5", bindAddress: "10.0.0.5" };
const KEY = "ns/web-0";

/** Counts the engine calls a pass makes to find and look at its container. */
class CountingDocker extends FakeDocker {
  lists = 0;
  inspects = 0;
  override async listContainers(labels?: Record<string, string>): Promise<ContainerSummary[]> {
    this.lists += 1;
    return await super.listContainers(labels);
  }
  override async inspectContainer(id: string): Promise<ContainerInfo> {
    this.inspects += 1;
    return await super.inspectContainer(id);
  }
}

/**
 * One Instance as the API server keeps it, every write a new resourceVersion, and the
 * agent's cache: each change reaches the cache after the write has answered, as a watch
 * event (old, new) the test's queue hears.
 */
class WatchedInstance extends InstanceWritesClient {
  cache: Instance;
  onUpdate: (before: Instance, after: Instance) => void = () => undefined;
  private readonly delivered: Array<Promise<void>> = [];

  constructor(instance: Instance) {
    super(instance);
    this.cache = structuredClone(instance);
  }

  /** Someone else (the controller, a user) changes the Instance. */
  change(edit: (instance: Instance) => void): void {
    const next = structuredClone(this.instance);
    edit(next);
    this.store(next);
  }

  /** Every watch event so far has reached the cache. */
  async settled(): Promise<void> {
    while (this.delivered.length > 0) await this.delivered.shift();
  }

  /** The watch event of each write comes before the write's answer, not after it. */
  eventsBeforeAnswers = false;
  /** Someone else's change made right after the next write, both in one event (a relist's). */
  foldIntoNext: ((instance: Instance) => void) | undefined;

  /** The watch event comes after the write's answer, or before it when so told. */
  protected override written(after: Instance): void {
    const fold = this.foldIntoNext;
    if (fold) {
      this.foldIntoNext = undefined;
      const folded = structuredClone(after);
      fold(folded);
      folded.metadata.resourceVersion = String(Number(after.metadata.resourceVersion) + 1);
      this.instance = structuredClone(folded);
      after = folded;
    }
    if (this.eventsBeforeAnswers) {
      const before = this.cache;
      this.cache = after;
      this.onUpdate(before, after);
      return;
    }
    this.delivered.push(
      new Promise<void>((resolve) =>
        setImmediate(() => {
          const before = this.cache;
          this.cache = after;
          this.onUpdate(before, after);
          resolve();
        }),
      ),
    );
  }
}

function newInstance(): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "ns", name: "web-0", uid: "u1", resourceVersion: "1", generation: 1 },
    spec: {
      definition: "web",
      deploymentId: "d1",
      nodeName: "node-a",
      template: { image: { name: "app:1", port: 8080 }, healthCheck: { type: "tcp", intervalSeconds: 1 } },
    },
  };
}

function setup() {
  const clock = new FakeClock(Date.parse("2025-01-01T00:00:10Z"));
  const docker = new CountingDocker(NODE.bindAddress);
  const api = new WatchedInstance(newInstance());
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => Promise.resolve({ ok: true, message: "connect ok" }),
    onVerdictChange: () => undefined,
  });
  const reconciler = new InstanceReconciler({
    node: NODE,
    docker,
    client: api,
    instances: { get: () => api.cache },
    environments: { get: () => undefined },
    prober,
    events: new RecordingEventRecorder(),
    clock,
    logger: nullLogger,
    crashLoop: { baseMs: 10_000, maxMs: 60_000, resetAfterMs: 600_000 },
    crashRecords: new CrashRecords(undefined, clock.now()),
    stopGraceSeconds: 5,
    resyncMs: 30_000,
    probeStatusRefreshMs: 60_000,
    buildSourceImage: () => Promise.reject(new Error("no builds here")),
    privilegedPortsAllowed: () => Promise.resolve(false),
    preparations: new ImagePreparations({ limit: 2, onSettled: () => undefined }),
  });
  // The Instance controller's queue: an update event enqueues unless the predicate says no.
  const queued = new Set<string>();
  const woken: Array<{ before: string; after: string }> = [];
  api.onUpdate = (before, after) => {
    if (reconciler.isOwnWrite(before, after)) return;
    woken.push({
      before: before.metadata.resourceVersion ?? "",
      after: after.metadata.resourceVersion ?? "",
    });
    queued.add(KEY);
  };
  const context: ReconcileContext = {
    log: nullLogger,
    reconcileID: "r",
    signal: new AbortController().signal,
    clock,
  };
  let passes = 0;
  /** Runs passes while the queue holds the Instance (as the controller's workers would), then stops the probes. */
  const drain = async (): Promise<void> => {
    while (queued.delete(KEY)) {
      passes += 1;
      await reconciler.reconcile({ key: KEY, namespace: "ns", name: "web-0" }, context);
      await api.settled();
    }
  };
  return { api, docker, prober, queued, woken, drain, passes: () => passes, clock, reconciler };
}

test("a new Instance's own finalizer and status writes start no further pass, and ask the engine nothing more", async () => {
  const { api, docker, prober, queued, woken, drain, passes } = setup();
  queued.add(KEY); // its add event
  await drain();
  prober.stopAll();

  const writes = api.calls.filter((c) => c.verb === "jsonPatch" || c.verb === "patchStatus").length;
  assert.ok(writes >= 2, `the finalizer and a status were written (${writes} writes)`);
  assert.equal(
    api.cache.metadata.resourceVersion,
    api.instance.metadata.resourceVersion,
    "the cache caught up",
  );
  assert.deepEqual(woken, [], "none of the agent's own writes woke the Instance");
  assert.equal(passes(), 1, "one pass for the one add event");
  assert.equal(docker.lists, 1, "one container list");
  assert.equal(docker.inspects, 1, "one inspect (the started container)");
  assert.equal(api.instance.status?.phase, "Starting");
  assert.deepEqual(api.instance.metadata.finalizers, [INSTANCE_FINALIZER]);
});

test("changes by anyone else still start a pass: a status flip, labels, spec, deletion", async () => {
  const { api, docker, prober, queued, woken, drain } = setup();
  queued.add(KEY);
  await drain();
  const listsBefore = docker.lists;

  const changes: Array<[string, (instance: Instance) => void]> = [
    [
      "a status the controller flipped",
      (i) => void (i.status = { ...i.status, phase: "Failed", ready: false }),
    ],
    ["an annotation", (i) => void (i.metadata.annotations = { "berth.dev/note": "x" })],
    ["a label", (i) => void (i.metadata.labels = { team: "a" })],
    ["the spec", (i) => void (i.spec.deploymentId = "d2")],
    ["a finalizer of someone else's", (i) => void i.metadata.finalizers?.push("example.com/keep")],
    ["deletion", (i) => void (i.metadata.deletionTimestamp = "2025-01-01T00:01:00Z")],
  ];
  for (const [what, edit] of changes) {
    const seen = woken.length;
    api.change(edit);
    await api.settled();
    assert.equal(woken.length, seen + 1, `${what} woke the Instance`);
    await drain();
  }
  prober.stopAll();
  assert.ok(docker.lists >= listsBefore + changes.length, "each of those passes looked at the container");
});

test("an own write's event that comes before the write's answer starts no pass either: at start, and Terminating at deletion", async () => {
  const { api, prober, queued, woken, drain, passes } = setup();
  api.eventsBeforeAnswers = true;
  queued.add(KEY);
  await drain();
  assert.equal(woken.length, 0, "the finalizer and status writes at start woke nothing");
  assert.equal(passes(), 1);

  api.change((i) => void (i.metadata.deletionTimestamp = "2025-01-01T00:01:00Z"));
  assert.equal(woken.length, 1, "the deletion woke the Instance");
  await drain();
  prober.stopAll();
  assert.equal(api.instance.status?.phase, "Terminating");
  assert.deepEqual(
    woken.map((w) => w.after),
    ["4", "6"],
    "the deletion (4) and the finalizer's removal (6; an API server deletes the Instance then) woke it, its Terminating write (5) did not",
  );
});

test("someone else's change folded into the event of an own write, before or after its answer, still starts a pass", async () => {
  for (const eventsBeforeAnswers of [false, true]) {
    const { api, prober, queued, woken, drain } = setup();
    api.eventsBeforeAnswers = eventsBeforeAnswers;
    api.foldIntoNext = (i) => void (i.metadata.labels = { team: "a" });
    queued.add(KEY);
    await drain();
    prober.stopAll();
    assert.deepEqual(
      woken[0],
      { before: "1", after: "3" },
      `a label folded into the finalizer write woke it (event first: ${eventsBeforeAnswers})`,
    );
    assert.deepEqual(api.instance.metadata.labels, { team: "a" });
  }
});

test("the engine's start event of the agent's own start wakes nobody; a die, and a start by someone else, do", async () => {
  const { docker, prober, queued, drain, clock, reconciler } = setup();
  const fromEngine: string[] = [];
  const stream = engineEvents({
    docker,
    node: { nodeName: NODE.nodeName, installation: NODE.installation },
    enqueue: (key) => fromEngine.push(key),
    isOwnStart: (id) => reconciler.isOwnStart(id),
    onResync: () => undefined,
    clock,
    logger: nullLogger,
  });
  await stream.start();
  queued.add(KEY);
  await drain();
  prober.stopAll();

  const [container] = [...docker.containers.values()];
  assert.ok(container);
  docker.exit(container.id, 1, 1000);
  await docker.startContainer(container.id); // someone else, `docker start`
  // A container of another Instance, started last: once its event is heard, all before it are.
  const other = await docker.createContainer({
    image: "app:1",
    labels: { ...container.labels, [LABELS.instance]: "other" },
  });
  await docker.startContainer(other);
  while (!fromEngine.includes("ns/other")) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    fromEngine,
    [KEY, KEY, "ns/other"],
    "its die and someone else's start woke the Instance; the agent's own start before them did not",
  );
  await stream.stop();
});
