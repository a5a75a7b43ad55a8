import assert from "node:assert/strict";
import os from "node:os";
import { test } from "node:test";
import { EVENTS, type KubeEvent, type KubeObject } from "../kube/resources.js";
import { KubeApiError } from "../kube/errors.js";
import { FakeClock } from "../testing/fake-clock.js";
import { KubeEventRecorder } from "./events.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { MemoryLogger } from "./log.js";

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
  await recorder.flush();
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
  const logger = new MemoryLogger();
  const { server, recorder, stored } = setup({ logger });
  server.failures.push({ verb: "create", error: new KubeApiError(500, "etcd unavailable") });
  recorder.event(pod, "Normal", "First", "lost");
  recorder.event(pod, "Normal", "Second", "kept");
  await recorder.flush();
  assert.deepEqual(
    stored().map((e) => e.reason),
    ["Second"],
  );
  const warning = logger.lines.find((line) => line.message === "event write failed");
  assert.equal(warning?.level, "warn");
  assert.equal(warning?.fields.component, "events");
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
  await recorder.flush();
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

test("defaults: the host name reports, a burst of 25, a token per 5 minutes, series updates every 30 s for 10 minutes", async () => {
  const server = new FakeApiServer();
  const clock = new FakeClock(Date.parse("2026-03-01T12:00:00Z"));
  const recorder = new KubeEventRecorder({ client: server, component: "berth.dev/controller", clock });
  const stored = (): KubeEvent[] => server.peekAll(EVENTS, "team");
  const patches = (): number => server.calls.filter((c) => c.verb === "mergePatch").length;
  for (let i = 0; i < 26; i++) recorder.event(pod, "Normal", "Step", `step ${i}`);
  await recorder.flush();
  assert.equal(stored().length, 25);
  assert.equal(stored()[0]?.reportingInstance, os.hostname().slice(0, 128));

  clock.advance(5 * 60_000 - 1);
  recorder.event(pod, "Normal", "Step", "late");
  await recorder.flush();
  assert.equal(stored().length, 25, "no token back before 5 minutes");
  clock.advance(1);
  recorder.event(pod, "Normal", "Step", "later");
  await recorder.flush();
  assert.equal(stored().length, 26);

  recorder.event(pod, "Normal", "Step", "later");
  clock.advance(29_999);
  recorder.event(pod, "Normal", "Step", "later");
  await recorder.flush();
  assert.equal(patches(), 0, "within 30 s a repeat is only counted");
  clock.advance(1);
  recorder.event(pod, "Normal", "Step", "later");
  await recorder.flush();
  assert.equal(patches(), 1);
  assert.equal(stored().length, 26);

  clock.advance(10 * 60_000);
  recorder.event(pod, "Normal", "Step", "later");
  await recorder.flush();
  assert.equal(stored().length, 26, "exactly 10 minutes after the last repeat it is the same series");
  clock.advance(10 * 60_000 + 1);
  recorder.event(pod, "Normal", "Step", "later");
  await recorder.flush();
  assert.equal(stored().length, 27, "past 10 minutes a repeat is a new Event");
});

test("two series updates queued before either is written make one patch", async () => {
  const { server, recorder, clock, stored } = setup();
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  clock.advance(30_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  clock.advance(30_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.equal(server.calls.filter((c) => c.verb === "mergePatch").length, 1);
  assert.deepEqual(stored()[0]?.series, { count: 3, lastObservedTime: "2026-03-01T12:01:00.000000Z" });
});

test("a failed series update is written by the next repeat", async () => {
  const { server, recorder, clock, stored } = setup();
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  server.failures.push({ verb: "mergePatch", error: new KubeApiError(500, "etcd unavailable") });
  clock.advance(30_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.equal(stored()[0]?.series, undefined);
  clock.advance(30_000);
  recorder.event(pod, "Warning", "BackOff", "restarting");
  await recorder.flush();
  assert.deepEqual(stored()[0]?.series, { count: 3, lastObservedTime: "2026-03-01T12:01:00.000000Z" });
});

test("messages that differ only past the note's limit are one series; type and reason part them", async () => {
  const { recorder, stored } = setup({ burst: 10 });
  // The note keeps a long message's start and end: a difference in the part cut out is none.
  const around = (middle: string) => `${"s".repeat(1500)}${middle}${"e".repeat(1500)}`;
  recorder.event(pod, "Warning", "BackOff", around("a"));
  recorder.event(pod, "Warning", "BackOff", around("b"));
  recorder.event(pod, "Normal", "BackOff", around("a"));
  recorder.event(pod, "Warning", "Other", around("a"));
  await recorder.flush();
  assert.equal(stored().length, 3);
});

test("a long quiet time refills an object's bucket only up to its burst", async () => {
  const { recorder, clock, stored } = setup();
  recorder.event(pod, "Normal", "Step", "first");
  clock.advance(60 * 60_000);
  for (let i = 0; i < 5; i++) recorder.event(pod, "Normal", "Step", `step ${i}`);
  await recorder.flush();
  assert.equal(stored().length, 4, "1, then a burst of 3");
});

test("a half-spent bucket is kept however long other objects speak", async () => {
  const { recorder, clock, stored } = setup();
  const other = { ...pod, metadata: { ...pod.metadata, uid: "u-2", name: "web-1" } };
  for (let i = 0; i < 3; i++) recorder.event(pod, "Normal", "Step", `step ${i}`);
  clock.advance(30_000);
  recorder.event(other, "Normal", "Step", "other");
  recorder.event(pod, "Normal", "Step", "step 3");
  await recorder.flush();
  assert.equal(stored().length, 4, "half a token is not a token, and the bucket was not reset");
});

test("an idle refill restores one token per period, not the whole burst", async () => {
  const { recorder, clock, stored } = setup();
  for (let i = 0; i < 3; i++) recorder.event(pod, "Normal", "Step", `step ${i}`);
  clock.advance(61_000);
  for (let i = 3; i < 6; i++) recorder.event(pod, "Normal", "Step", `step ${i}`);
  await recorder.flush();
  assert.equal(stored().length, 4);
});

test("series and rate limits of objects gone quiet are forgotten", async () => {
  const { recorder, clock } = setup();
  for (let i = 0; i < 50; i++) {
    recorder.event(
      { ...pod, metadata: { ...pod.metadata, uid: `u-${i}`, name: `web-${i}` } },
      "Normal",
      "Seen",
      "x",
    );
  }
  assert.deepEqual(recorder.trackedEntries(), { series: 50, buckets: 50 });
  clock.advance(60_000);
  recorder.event(pod, "Normal", "Seen", "later");
  assert.equal(
    recorder.trackedEntries().buckets,
    1,
    "the 50 buckets have refilled: only the one just used is held",
  );
  assert.equal(recorder.trackedEntries().series, 51, "series stay for their window");
  clock.advance(600_001);
  recorder.event(pod, "Normal", "Seen", "much later");
  // Expired series go with the next sweep (a timer, not the recording path).
  clock.advance(60_000);
  assert.equal(recorder.trackedEntries().series, 1, "only the series just started is held");
  await recorder.flush();
});

test("without a uid, objects of one kind and name in two namespaces are two objects", async () => {
  const server = new FakeApiServer();
  const recorder = new KubeEventRecorder({ client: server, component: "c", instance: "h", burst: 1 });
  recorder.event({ kind: "Instance", metadata: { namespace: "a", name: "web" } }, "Normal", "Seen", "x");
  recorder.event({ kind: "Instance", metadata: { namespace: "b", name: "web" } }, "Normal", "Seen", "x");
  await recorder.flush();
  assert.equal(server.peekAll(EVENTS, "a").length + server.peekAll(EVENTS, "b").length, 2);
});

test("reason and note are kept apart in a series: moving text between them is another Event", async () => {
  const { recorder, stored } = setup();
  recorder.event(pod, "Warning", "Back", "Off now");
  recorder.event(pod, "Warning", "BackOff", " now");
  await recorder.flush();
  assert.equal(stored().length, 2);
});

test("the recording recorder keys an unnamed object by its namespace alone, or nothing", () => {
  const recorder = new RecordingEventRecorder();
  recorder.event({ metadata: { namespace: "team" } }, "Normal", "Seen", "x");
  recorder.event({}, "Normal", "Seen", "y");
  assert.deepEqual(
    recorder.events.map((e) => e.key),
    ["team/", ""],
  );
});

test("a message of exactly 1 KiB is the note, whole", async () => {
  const { recorder, stored } = setup();
  const message = "x".repeat(1024);
  recorder.event(pod, "Normal", "Full", message);
  await recorder.flush();
  assert.equal(stored()[0]?.note, message);
});

test("a bucket that outlives its object's series is still swept once it has refilled", async () => {
  const clock = new FakeClock();
  const events = new KubeEventRecorder({
    client: new FakeKubeClient(),
    component: "berth.dev/test",
    instance: "test",
    clock,
    seriesWindowMs: 60_000,
    burst: 3,
    refillMs: 10 * 60_000,
    sweepIntervalMs: 60_000,
  });
  for (let i = 0; i < 3; i++) events.event(object("hot"), "Warning", "Failed", `m${i}`);
  clock.advance(2 * 60_000);
  assert.deepEqual(events.trackedEntries(), { series: 0, buckets: 1 }, "series gone, bucket refilling");
  clock.advance(30 * 60_000);
  assert.deepEqual(events.trackedEntries(), { series: 0, buckets: 0 });
  assert.equal(clock.pendingTimers(), 0);
  await events.flush();
});
