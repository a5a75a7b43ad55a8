import assert from "node:assert/strict";
import { test } from "node:test";
import { EVENTS, type KubeEvent, type KubeObject } from "../kube/resources.js";
import { KubeApiError } from "../kube/errors.js";
import { FakeClock } from "../testing/fake-clock.js";
import { KubeEventRecorder } from "./events.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";

const pod = {
  apiVersion: "berth.dev/v1alpha1",
  kind: "Instance",
  metadata: { namespace: "team", name: "web-0", uid: "u-1", resourceVersion: "7" },
};

function setup(options: Partial<ConstructorParameters<typeof KubeEventRecorder>[0]> = {}) {
  const server = new FakeApiServer();
  const clock = new FakeClock(Date.parse("2026-03-01T12:00:00Z"));
  const recorder = new KubeEventRecorder({
    client: server,
    component: "berth.dev/controller",
    instance: "host-1",
    clock,
    seriesWindowMs: 600_000,
    seriesUpdateIntervalMs: 30_000,
    burst: 3,
    refillMs: 60_000,
    ...options,
  });
  const stored = (): KubeEvent[] => server.peekAll(EVENTS, "team");
  return { server, clock, recorder, stored };
}

test("an Event names the object, the reporter and what happened", async () => {
  const { recorder, stored } = setup();
  recorder.event(pod, "Warning", "Evicted", "gone", "Evict");
  await recorder.flush();
  const [event, ...rest] = stored();
  assert.equal(rest.length, 0);
  assert.equal(event?.apiVersion, "events.k8s.io/v1");
  assert.equal(event?.kind, "Event");
  assert.match(event?.metadata?.name ?? "", /^web-0\.[0-9a-f]+$/);
  assert.equal(event?.eventTime, "2026-03-01T12:00:00.000000Z");
  assert.equal(event?.reportingController, "berth.dev/controller");
  assert.equal(event?.reportingInstance, "host-1");
  assert.equal(event?.type, "Warning");
  assert.equal(event?.reason, "Evicted");
  assert.equal(event?.action, "Evict");
  assert.equal(event?.note, "gone");
  assert.deepEqual(event?.regarding, {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    name: "web-0",
    namespace: "team",
    uid: "u-1",
    resourceVersion: "7",
  });
});

test("the action defaults to the reason; long texts are cut to the API's limits", async () => {
  const { recorder, stored } = setup();
  recorder.event(pod, "Normal", "R".repeat(200), "m".repeat(2000));
  await recorder.flush();
  const [event] = stored();
  assert.equal(event?.reason, "R".repeat(128));
  assert.equal(event?.action, "R".repeat(128));
  assert.ok(Buffer.byteLength(event?.note ?? "") <= 1024);
  assert.match(event?.note ?? "", /^m+\n… \[\d+ characters cut\] …\nm+$/);
});

test("an object without a namespace has its Events in default", async () => {
  const { server, recorder } = setup();
  recorder.event({ kind: "Node", metadata: { name: "node-a" } }, "Warning", "NodeNotReady", "silent");
  await recorder.flush();
  const [event] = server.peekAll(EVENTS, "default");
  assert.equal(event?.regarding?.name, "node-a");
  assert.equal(event?.regarding?.namespace, undefined);
  assert.equal(event?.regarding?.uid, undefined);
});

test("repeats become one Event whose series count is updated at most every interval", async () => {
  const { recorder, clock, stored } = setup();
  recorder.event(pod, "Warning", "BackOff", "restarting");
  recorder.event(pod, "Warning", "BackOff", "restarting");
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.equal(stored().length, 1);
  assert.equal(stored()[0]?.series, undefined, "repeats within the interval write nothing yet");

  clock.advance(30_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.equal(stored().length, 1);
  assert.deepEqual(stored()[0]?.series, { count: 4, lastObservedTime: "2026-03-01T12:00:30.000000Z" });

  // Another message is another Event.
  recorder.event(pod, "Warning", "BackOff", "restarting again");
  await recorder.flush();
  assert.equal(stored().length, 2);
});

test("after the series window a repeat starts a new Event", async () => {
  const { recorder, clock, stored } = setup();
  recorder.event(pod, "Warning", "BackOff", "restarting");
  clock.advance(600_001);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.equal(stored().length, 2);
});

test("each object gets a burst, then one Event per refill period", async () => {
  const { recorder, clock, stored } = setup();
  for (let i = 0; i < 5; i++) recorder.event(pod, "Normal", "Step", `step ${i}`);
  await recorder.flush();
  assert.equal(stored().length, 3, "the burst");
  recorder.event(
    { ...pod, metadata: { ...pod.metadata, uid: "u-2", name: "web-1" } },
    "Normal",
    "Step",
    "other",
  );
  await recorder.flush();
  assert.equal(stored().length, 4, "another object has its own bucket");

  clock.advance(59_000);
  recorder.event(pod, "Normal", "Step", "step 5");
  await recorder.flush();
  assert.equal(stored().length, 4, "not refilled yet");
  clock.advance(1_000);
  recorder.event(pod, "Normal", "Step", "step 6");
  recorder.event(pod, "Normal", "Step", "step 7");
  await recorder.flush();
  assert.equal(stored().length, 5, "one token back after one refill period");
});

test("a failed write is logged, never thrown, and later Events still go out", async () => {
  const { server, recorder, stored } = setup();
  server.failures.push({ verb: "create", error: new KubeApiError(500, "etcd unavailable") });
  recorder.event(pod, "Normal", "First", "lost");
  recorder.event(pod, "Normal", "Second", "kept");
  await recorder.flush();
  assert.deepEqual(
    stored().map((e) => e.reason),
    ["Second"],
  );
});

test("the recording recorder keeps what it was told, by object key", () => {
  const recorder = new RecordingEventRecorder();
  recorder.event(pod, "Normal", "Created", "made", "Create");
  recorder.event({ metadata: { name: "node-a" } }, "Warning", "NodeNotReady", "silent");
  assert.deepEqual(recorder.events, [
    { key: "team/web-0", type: "Normal", reason: "Created", message: "made", action: "Create" },
    { key: "node-a", type: "Warning", reason: "NodeNotReady", message: "silent" },
  ]);
});

test("a series is written only when its count moved; the window is inclusive", async () => {
  const { server, recorder, clock, stored } = setup();
  recorder.event(pod, "Warning", "BackOff", "restarting");
  clock.advance(30_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  const patches = (): number => server.calls.filter((c) => c.verb === "mergePatch").length;
  assert.equal(patches(), 1);
  // Exactly a window after the last repeat it is still the same series.
  clock.advance(600_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.equal(stored().length, 1);
  assert.equal(stored()[0]?.series?.count, 3);
});

test("the reporting instance is cut to 128 characters; an unnamed object still gets a valid Event name", async () => {
  const { recorder, stored } = setup({ instance: "h".repeat(200) });
  recorder.event({ metadata: { namespace: "team" } }, "Normal", "Seen", "x");
  await recorder.flush();
  assert.equal(stored()[0]?.reportingInstance, "h".repeat(128));
  assert.match(stored()[0]?.metadata?.name ?? "", /^object\./);
});

test("objects without a uid are told apart by kind, namespace and name", async () => {
  const { recorder, stored } = setup({ burst: 1 });
  recorder.event({ kind: "Instance", metadata: { namespace: "team", name: "a" } }, "Normal", "Seen", "x");
  recorder.event({ kind: "Definition", metadata: { namespace: "team", name: "a" } }, "Normal", "Seen", "x");
  recorder.event({ kind: "Instance", metadata: { namespace: "team", name: "b" } }, "Normal", "Seen", "x");
  await recorder.flush();
  assert.equal(stored().length, 3, "three objects, three buckets, three series");
});

function object(name: string): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "ns", name, uid: `uid-${name}` } };
}

function sweepingRecorder(clock: FakeClock, client = new FakeKubeClient()) {
  return {
    client,
    events: new KubeEventRecorder({
      client,
      component: "berth.dev/test",
      instance: "test",
      clock,
      seriesWindowMs: 10 * 60_000,
      seriesUpdateIntervalMs: 30_000,
      burst: 3,
      refillMs: 60_000,
      sweepIntervalMs: 60_000,
    }),
  };
}

test("expired series and refilled buckets are swept on a timer, not while recording", async () => {
  const clock = new FakeClock();
  const { events } = sweepingRecorder(clock);
  for (let i = 0; i < 1000; i++) events.event(object(`o${i}`), "Normal", "Created", "hello");
  await events.flush();
  assert.deepEqual(events.trackedEntries(), { series: 1000, buckets: 1000 });

  // The buckets refilled within a minute and went with the first sweep; the series stay
  // for their window.
  clock.advance(60_000);
  assert.deepEqual(events.trackedEntries(), { series: 1000, buckets: 0 });

  // Past the series window, just before a sweep: recording does not scan for expired ones.
  clock.advance(10 * 60_000 - 1_000);
  events.event(object("new"), "Normal", "Created", "hello");
  assert.deepEqual(events.trackedEntries(), { series: 1001, buckets: 1 });

  // The next sweep drops all but what was just reported on.
  clock.advance(60_000);
  assert.deepEqual(events.trackedEntries(), { series: 1, buckets: 1 });
  clock.advance(11 * 60_000);
  assert.deepEqual(events.trackedEntries(), { series: 0, buckets: 0 });
  assert.equal(clock.pendingTimers(), 0, "no sweep is scheduled while nothing is held");
});

test("a bucket still refilling is kept by the sweep, so the rate limit holds", async () => {
  const clock = new FakeClock();
  const { client, events } = sweepingRecorder(clock);
  for (let i = 0; i < 4; i++) events.event(object("hot"), "Warning", "Failed", `m${i}`);
  await events.flush();
  assert.equal(client.calls.length, 3, "the fourth was over the burst");
  // One sweep later the bucket has one token back of three: it is kept.
  clock.advance(61_000);
  assert.equal(events.trackedEntries().buckets, 1);
  events.event(object("hot"), "Warning", "Failed", "m4");
  events.event(object("hot"), "Warning", "Failed", "m5");
  await events.flush();
  assert.equal(client.calls.length, 4, "only the refilled token was spent");
});

test("an expired series that the sweep has not dropped yet starts a new event", async () => {
  const clock = new FakeClock();
  const { client, events } = sweepingRecorder(clock);
  events.event(object("a"), "Warning", "Failed", "same");
  clock.advance(10 * 60_000 + 1);
  // The sweep fired at 60 s; at 10 min + 1 ms the series expired but is still held.
  events.event(object("a"), "Warning", "Failed", "same");
  await events.flush();
  assert.deepEqual(
    client.calls.map((call) => call.verb),
    ["create", "create"],
  );
});

test("a long message becomes a note of at most 1 KiB that keeps its start and its end", async () => {
  const clock = new FakeClock();
  const { client, events } = sweepingRecorder(clock);
  events.event(
    object("a"),
    "Warning",
    "BuildFailed",
    `build failed:\n${"ü".repeat(100_000)}\nerror: the cause`,
  );
  await events.flush();
  const note = (client.calls[0]?.body as { note: string }).note;
  assert.ok(Buffer.byteLength(note) <= 1024, `${Buffer.byteLength(note)} bytes`);
  assert.ok(note.startsWith("build failed:"));
  assert.ok(note.endsWith("error: the cause"));
});
