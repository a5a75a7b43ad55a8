import { test } from "node:test";
import assert from "node:assert/strict";
import { ProbeServer } from "./server.js";
import { createLogger } from "./log.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";

test("/healthz, /readyz and /metrics answer, and a failing check names itself", async (t) => {
  const server = new ProbeServer({ port: 0 });
  let ready = false;
  server.addHealthzCheck("ping", () => undefined);
  server.addReadyzCheck("caches", () => {
    if (!ready) throw new Error("informers not synced");
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  };
  assert.equal((await get("/healthz")).status, 200);
  const notReady = await get("/readyz");
  assert.equal(notReady.status, 503);
  assert.match(notReady.body, /\[-\]caches failed: informers not synced/);
  ready = true;
  assert.equal((await get("/readyz")).status, 200);
  server.markShuttingDown();
  assert.equal((await get("/readyz")).status, 503);
  assert.match((await get("/metrics")).body, /leader_election_master_status|workqueue_depth|# HELP/);
});

test("createLogger refuses an unknown level or format", () => {
  assert.throws(() => createLogger({ level: "loud" as "info" }), /invalid log level "loud"/);
  assert.throws(() => createLogger({ format: "xml" as "json" }), /invalid log format "xml"/);
});

test("a check that has not answered by checkTimeoutMs on the clock fails as timed out", async (t) => {
  const clock = new FakeClock();
  const server = new ProbeServer({ port: 0, clock, checkTimeoutMs: 2000 });
  let called!: () => void;
  const checking = new Promise<void>((resolve) => (called = resolve));
  server.addReadyzCheck("stuck", () => {
    called();
    return new Promise<void>(() => undefined);
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  const answer = fetch(`http://127.0.0.1:${port}/readyz`);
  await checking;
  clock.advance(1999);
  await flushPromises();
  assert.equal(clock.pendingTimers(), 1, "not timed out before checkTimeoutMs");
  clock.advance(1);
  const res = await answer;
  assert.equal(res.status, 503);
  assert.match(await res.text(), /\[-\]stuck failed: timed out after 2000 ms/);
});
