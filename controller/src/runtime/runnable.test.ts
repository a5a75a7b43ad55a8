import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { Manager } from "./manager.js";
import { PeriodicTask, backgroundTask, type Runnable } from "./runnable.js";

function recorded(name: string, log: string[], failStart = false): Runnable {
  return {
    name,
    start: async () => {
      if (failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    stop: async () => {
      log.push(`stop ${name}`);
    },
  };
}

test("the manager starts runnables in the order added and stops them the other way round", async () => {
  const log: string[] = [];
  const manager = new Manager({ client: new FakeKubeClient(), clock: new FakeClock() });
  for (const name of ["heartbeat", "gc", "events"]) manager.addRunnable(recorded(name, log));
  const abort = new AbortController();
  const done = manager.start(abort.signal);
  await manager.started;
  assert.deepEqual(log, ["start heartbeat", "start gc", "start events"]);
  abort.abort();
  await done;
  assert.deepEqual(log.slice(3), ["stop events", "stop gc", "stop heartbeat"]);
});

test("a runnable that fails to start stops the ones before it and fails the start", async () => {
  const log: string[] = [];
  const manager = new Manager({ client: new FakeKubeClient(), clock: new FakeClock() });
  manager.addRunnable(recorded("heartbeat", log));
  manager.addRunnable(recorded("gc", log, true));
  manager.addRunnable(recorded("events", log));
  const done = manager.start(new AbortController().signal);
  await assert.rejects(manager.started, /gc cannot start/);
  await assert.rejects(done, /gc cannot start/);
  assert.deepEqual(log, ["start heartbeat", "stop heartbeat"]);
});

test("a periodic task waits until ready, then runs on the injected clock until stopped", async () => {
  const clock = new FakeClock();
  let ready!: (value: boolean) => void;
  const runs: number[] = [];
  const task = new PeriodicTask(
    {
      name: "gc",
      clock,
      intervalMs: 1000,
      ready: () => new Promise<boolean>((resolve) => (ready = resolve)),
    },
    async () => {
      runs.push(clock.now());
    },
  );
  await task.start();
  await clock.advanceAsync(5000, 500);
  assert.deepEqual(runs, [], "nothing runs before the cache is ready");
  ready(true);
  await flushPromises();
  const start = clock.now();
  await clock.advanceAsync(2500, 250);
  assert.deepEqual(runs, [start, start + 1000, start + 2000]);
  await task.stop();
  await clock.advanceAsync(5000, 500);
  assert.equal(runs.length, 3, "no run after stop");
  assert.equal(clock.pendingTimers(), 0, "no timer left behind");
});

test("runNow runs out of turn, never beside a run in progress", async () => {
  const clock = new FakeClock();
  let active = 0;
  let most = 0;
  const task = new PeriodicTask({ name: "gc", clock, intervalMs: 60_000 }, async () => {
    active++;
    most = Math.max(most, active);
    await flushPromises(2);
    active--;
  });
  await task.start();
  await Promise.all([task.runNow(), task.runNow(), task.runNow()]);
  assert.equal(most, 1);
  await task.stop();
});

test("a background task is aborted by stop, and stop waits for it to end", async () => {
  let ended = false;
  const task = backgroundTask("events", async (signal) => {
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    ended = true;
  });
  await task.start();
  assert.equal(ended, false);
  await task.stop();
  assert.equal(ended, true);
});
