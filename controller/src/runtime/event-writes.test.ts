import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import { EVENTS, type KubeEvent } from "../kube/resources.js";
import type { ObjectRef } from "../kube/client.js";
import { FakeApiServer } from "../testing/fake-apiserver.js";
import { FakeClock } from "../testing/fake-clock.js";
import { KubeEventRecorder } from "./events.js";
import { MemoryLogger } from "./log.js";
import { eventsTotal } from "./metrics.js";

/** An API server whose writes wait until the test lets them through, one or all. */
class GatedApiServer extends FakeApiServer {
  private readonly gates: Array<() => void> = [];

  /** Writes that reached the server and wait for an answer. */
  get waiting(): number {
    return this.gates.length;
  }

  release(count = Infinity): void {
    for (const open of this.gates.splice(0, count)) open();
  }

  private async gate(): Promise<void> {
    await new Promise<void>((resolve) => this.gates.push(resolve));
  }

  override async create<T extends KubeObject>(resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    await this.gate();
    return await super.create(resource, obj);
  }

  override async mergePatch<T extends KubeObject>(
    resource: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    await this.gate();
    return await super.mergePatch(resource, ref, patch);
  }
}

let reporters = 0;

function setup(options: Partial<ConstructorParameters<typeof KubeEventRecorder>[0]> = {}) {
  const server = new GatedApiServer();
  const clock = new FakeClock(Date.parse("2026-03-01T12:00:00Z"));
  const logger = new MemoryLogger();
  // A reporter of its own per test: the metrics are the process's, the counts this test's.
  const reporter = `berth.dev/test-${++reporters}`;
  const recorder = new KubeEventRecorder({
    client: server,
    component: reporter,
    instance: "host-1",
    clock,
    logger,
    seriesUpdateIntervalMs: 30_000,
    maxConcurrentWrites: 3,
    maxBacklog: 5,
    dropLogIntervalMs: 60_000,
    ...options,
  });
  const stored = (): KubeEvent[] => server.peekAll(EVENTS, "team");
  const counted = async (outcome: string): Promise<number> => {
    const { values } = await eventsTotal.get();
    return values.find((v) => v.labels.reporter === reporter && v.labels.outcome === outcome)?.value ?? 0;
  };
  /** Lets the recorder's background writes start (they wait for the caller's turn to end). */
  const turn = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve));
  return { server, clock, logger, recorder, stored, counted, turn };
}

function instance(i: number): KubeObject {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "team", name: `web-${i}`, uid: `u-${i}` },
  };
}

test("recording returns before any request is made, whatever the API server does", async () => {
  const { server, recorder, turn } = setup();
  recorder.event(instance(0), "Normal", "Started", "started");
  assert.equal(server.calls.length, 0, "the write waits for the caller's turn to end");
  await turn();
  assert.equal(server.waiting, 1, "then it goes out, and the caller never waits for its answer");
  server.release();
  await recorder.flush();
});

test("writes go out a bounded number at a time, and every one of a burst arrives", async () => {
  const { server, recorder, stored, turn, counted } = setup({ maxBacklog: 100 });
  for (let i = 0; i < 20; i++) recorder.event(instance(i), "Normal", "Started", "started");
  await turn();
  assert.equal(server.waiting, 3, "three in flight, not one and not twenty");
  assert.deepEqual(recorder.pendingWrites(), { waiting: 17, inFlight: 3 });
  server.release(1);
  await turn();
  await turn();
  assert.equal(server.waiting, 3, "an answer frees a slot for the next write");
  while (server.waiting > 0) {
    server.release();
    await turn();
    await turn();
  }
  await recorder.flush();
  assert.equal(stored().length, 20);
  assert.equal(await counted("created"), 20);
});

test("a full backlog drops new Events, counts them, and logs once per interval", async () => {
  const { server, clock, logger, recorder, stored, turn, counted } = setup({ maxConcurrentWrites: 1 });
  for (let i = 0; i < 10; i++) recorder.event(instance(i), "Normal", "Started", "started");
  assert.deepEqual(recorder.pendingWrites(), { waiting: 5, inFlight: 0 }, "the backlog holds 5");
  assert.equal(await counted("dropped"), 5);
  const dropLogs = () =>
    logger.lines.filter((l) => l.message === "events dropped: the write backlog is full");
  assert.equal(dropLogs().length, 1, "one line for the first drop of the interval");
  assert.equal(dropLogs()[0]?.fields.dropped, 1);

  clock.advance(59_999);
  recorder.event(instance(10), "Normal", "Started", "started");
  assert.equal(dropLogs().length, 1);
  clock.advance(1);
  recorder.event(instance(11), "Normal", "Started", "started");
  assert.equal(dropLogs().length, 2, "the next interval logs again");
  assert.equal(dropLogs()[1]?.fields.dropped, 6, "with how many were dropped since the last line");
  assert.equal(dropLogs()[1]?.level, "warn");

  await turn();
  server.release();
  while (recorder.pendingWrites().inFlight + recorder.pendingWrites().waiting > 0) {
    server.release();
    await turn();
  }
  await recorder.flush();
  assert.deepEqual(
    stored().map((e) => e.regarding?.name),
    ["web-0", "web-1", "web-2", "web-3", "web-4"],
  );
});

test("an Event dropped from a full backlog is recorded anew by its next repeat", async () => {
  const { server, recorder, stored, turn } = setup({ maxConcurrentWrites: 1, maxBacklog: 1 });
  recorder.event(instance(0), "Normal", "Started", "started");
  recorder.event(instance(1), "Warning", "BackOff", "restarting");
  await turn();
  recorder.event(instance(1), "Warning", "BackOff", "restarting");
  server.release();
  await turn();
  server.release();
  await recorder.flush();
  assert.deepEqual(
    stored().map((e) => [e.regarding?.name, e.series?.count]),
    [
      ["web-0", undefined],
      ["web-1", undefined],
    ],
    "the repeat was not counted into a series whose Event was never written",
  );
});

test("repeats seen while the Event waits in the backlog go into its create", async () => {
  const { server, recorder, stored, turn, counted } = setup();
  for (let i = 0; i < 4; i++) recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  server.release();
  await recorder.flush();
  assert.equal(stored().length, 1);
  assert.equal(stored()[0]?.series?.count, 4);
  assert.equal(server.calls.filter((c) => c.verb === "mergePatch").length, 0, "no write of their own");
  assert.equal(await counted("aggregated"), 3);
});

test("a series update due while the create is in flight is written once the create is answered", async () => {
  const { server, clock, recorder, stored, turn, counted } = setup();
  recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  assert.equal(server.waiting, 1, "the create is in flight");
  clock.advance(30_000);
  recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  assert.equal(server.waiting, 1, "no patch before the Event exists");
  server.release();
  await turn();
  await turn();
  assert.equal(server.waiting, 1, "the patch follows the create");
  server.release();
  await recorder.flush();
  assert.deepEqual(stored()[0]?.series, { count: 2, lastObservedTime: "2026-03-01T12:00:30.000000Z" });
  assert.equal(await counted("series_updated"), 1);
});

test("one series update at a time: repeats while one is in flight are in the next", async () => {
  const { server, clock, recorder, stored, turn } = setup();
  recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  server.release();
  await recorder.flush();
  clock.advance(30_000);
  recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  assert.equal(server.waiting, 1, "the first update is in flight");
  clock.advance(30_000);
  recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  assert.equal(server.waiting, 1, "no second update beside it");
  server.release();
  await recorder.flush();
  assert.equal(stored()[0]?.series?.count, 2);
  clock.advance(30_000);
  recorder.event(instance(0), "Warning", "BackOff", "restarting");
  await turn();
  server.release();
  await recorder.flush();
  assert.equal(stored()[0]?.series?.count, 4);
});

test("the spam filter's and the API server's refusals are counted", async () => {
  const { server, recorder, turn, counted } = setup({ burst: 2, maxBacklog: 100 });
  server.failures.push({ verb: "create", error: new Error("etcd unavailable") });
  for (let i = 0; i < 5; i++) recorder.event(instance(0), "Normal", "Step", `step ${i}`);
  assert.equal(await counted("rate_limited"), 3);
  await turn();
  server.release();
  await recorder.flush();
  assert.equal(await counted("failed"), 1);
  assert.equal(await counted("created"), 1);
});
