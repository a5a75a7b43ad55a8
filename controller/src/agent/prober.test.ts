import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import { nullLogger } from "../runtime/log.js";
import type { ProbeOutcome, ProbeTarget } from "./probe-checks.js";
import { MAX_STARTUP_CHECKS_IN_FLIGHT, Prober } from "./prober.js";
import { initialProbeState, nextProbeDelayMs, recordOutcome, thresholdsFor } from "./probe-verdict.js";
import { probeTargetFor, runProbe } from "./probe-checks.js";

const noExec = (): Promise<number> => Promise.reject(new Error("exec not expected"));

test("defaults: no health check means a TCP connect every 10 s with thresholds 3/1", () => {
  const target = probeTargetFor(undefined, { host: "127.0.0.1", port: 32768, containerId: "c1" });
  assert.equal(target.type, "tcp");
  assert.equal(target.intervalMs, 10_000);
  assert.equal(target.timeoutMs, 1000);
  assert.equal(target.failureThreshold, 3);
  assert.equal(target.successThreshold, 1);
  assert.equal(target.initialDelayMs, 0);
});

test("thresholds: a single failure does not flip a ready check; failureThreshold in a row does", () => {
  const th = { successThreshold: 2, failureThreshold: 3 };
  const ok = { ok: true, message: "ok" };
  const bad = { ok: false, message: "bad" };
  let s = recordOutcome(initialProbeState, ok, th, 1);
  assert.equal(s.verdict, "Pending");
  s = recordOutcome(s, ok, th, 2);
  assert.equal(s.verdict, "Passed");
  assert.equal(s.verdictSince, 2);
  s = recordOutcome(s, bad, th, 3);
  s = recordOutcome(s, bad, th, 4);
  assert.equal(s.verdict, "Passed");
  s = recordOutcome(s, ok, th, 5);
  s = recordOutcome(s, bad, th, 6);
  s = recordOutcome(s, bad, th, 7);
  assert.equal(s.verdict, "Passed", "the success in between reset the failure count");
  s = recordOutcome(s, bad, th, 8);
  assert.equal(s.verdict, "Failed");
  assert.equal(s.verdictSince, 8);
  assert.equal(s.lastProbeTime, 8);
});

function fakeTarget(overrides: Partial<ProbeTarget> = {}): ProbeTarget {
  return {
    ...probeTargetFor(
      { type: "tcp", intervalSeconds: 5, initialDelaySeconds: 2, failureThreshold: 2 },
      {
        host: "h",
        port: 1,
        containerId: "c1",
      },
    ),
    ...overrides,
  };
}

test("a loop waits initialDelay, checks on its interval and reports only verdict changes", async () => {
  const clock = new FakeClock();
  const outcomes: ProbeOutcome[] = [
    { ok: true, message: "up" },
    { ok: true, message: "up" },
    { ok: false, message: "down" },
    { ok: false, message: "down" },
  ];
  let calls = 0;
  const changes: string[] = [];
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => Promise.resolve(outcomes[calls++] ?? { ok: false, message: "down" }),
    onVerdictChange: (key) => changes.push(`${key}:${prober.state(key)?.verdict}`),
  });
  prober.ensure("ns/a", fakeTarget());
  await clock.advanceAsync(1999, 1999);
  assert.equal(calls, 0, "nothing before initialDelay");
  await clock.advanceAsync(1, 1);
  assert.equal(calls, 1);
  assert.deepEqual(changes, ["ns/a:Passed"]);
  await clock.advanceAsync(5000, 5000);
  await clock.advanceAsync(5000, 5000);
  assert.equal(calls, 3);
  assert.deepEqual(changes, ["ns/a:Passed"], "one failure is below failureThreshold");
  await clock.advanceAsync(5000, 5000);
  assert.deepEqual(changes, ["ns/a:Passed", "ns/a:Failed"]);
  prober.stop("ns/a");
  await clock.advanceAsync(20_000, 5000);
  assert.equal(calls, 4, "a stopped loop checks no more");
  assert.equal(clock.pendingTimers(), 0);
});

test("ensure keeps a matching loop and replaces one for a new container", async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: (t) => {
      seen.push(t.containerId);
      return Promise.resolve({ ok: true, message: "up" });
    },
    onVerdictChange: () => undefined,
  });
  prober.ensure("k", fakeTarget({ initialDelayMs: 0 }));
  await clock.advanceAsync(1, 1);
  await flushPromises();
  prober.ensure("k", fakeTarget({ initialDelayMs: 0 }));
  assert.equal(prober.state("k")?.verdict, "Passed", "the same target keeps its state");
  prober.ensure("k", fakeTarget({ initialDelayMs: 0, containerId: "c2" }));
  assert.equal(prober.state("k")?.verdict, "Pending", "a new container starts over");
  await clock.advanceAsync(1, 1);
  assert.deepEqual(seen, ["c1", "c2"]);
  assert.equal(prober.containerOf("k"), "c2");
  prober.stopAll();
});

test("tcp and http checks against a real loopback server", async (t) => {
  let status = 200;
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === "/healthz" ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const where = { host: "127.0.0.1", port, containerId: "c" };

  assert.equal((await runProbe(probeTargetFor(undefined, where), noExec)).ok, true);
  const httpTarget = probeTargetFor({ type: "http", path: "/healthz" }, where);
  assert.equal((await runProbe(httpTarget, noExec)).ok, true);
  status = 503;
  const failing = await runProbe(httpTarget, noExec);
  assert.equal(failing.ok, false);
  assert.match(failing.message, /answered 503, want 2xx or 3xx/);
  status = 204;
  const exact = await runProbe(
    probeTargetFor({ type: "http", path: "/healthz", expectedStatus: 200 }, where),
    noExec,
  );
  assert.equal(exact.ok, false);

  // A port nothing listens on: take a free one and close it.
  const spare = net.createServer();
  await new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", resolve));
  const closedPort = (spare.address() as AddressInfo).port;
  await new Promise<void>((resolve) => spare.close(() => resolve()));
  const refused = await runProbe(probeTargetFor(undefined, { ...where, port: closedPort }), noExec);
  assert.equal(refused.ok, false);
  assert.match(refused.message, /ECONNREFUSED/);
});

test("an exec check passes on exit 0 and fails otherwise", async () => {
  const target = probeTargetFor(
    { type: "exec", command: ["check"] },
    { host: "h", port: 1, containerId: "c9" },
  );
  assert.equal((await runProbe(target, () => Promise.resolve(0))).ok, true);
  const failed = await runProbe(target, (id, command) => {
    assert.equal(id, "c9");
    assert.deepEqual(command, ["check"]);
    return Promise.resolve(2);
  });
  assert.deepEqual(failed, { ok: false, message: "health check command exited with 2" });
  const broken = await runProbe(target, () => Promise.reject(new Error("no such container")));
  assert.equal(broken.ok, false);
  assert.match(broken.message, /no such container/);
});

test("start-up: checks on a short, growing schedule until the first verdict, then on intervalSeconds", async () => {
  const clock = new FakeClock();
  let listening = false;
  const checkedAt: number[] = [];
  const start = clock.now();
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => {
      checkedAt.push(clock.now() - start);
      return Promise.resolve(listening ? { ok: true, message: "up" } : { ok: false, message: "refused" });
    },
    onVerdictChange: () => undefined,
  });
  // Defaults: 10 s interval, failureThreshold 3, successThreshold 1, no initial delay.
  prober.ensure("k", probeTargetFor(undefined, { host: "h", port: 1, containerId: "c1" }));
  clock.advance(0);
  await flushPromises();
  await clock.advanceAsync(2575, 5);
  assert.deepEqual(
    checkedAt,
    [0, 25, 75, 175, 375, 775, 1575, 2575],
    "misses are retried after 25 ms, then twice as long each time, up to 1 s",
  );
  listening = true;
  await clock.advanceAsync(1000, 5);
  assert.equal(prober.state("k")?.verdict, "Passed", "ready 1 s after the server listens, not 10 s");
  assert.deepEqual(checkedAt.slice(8), [3575]);
  await clock.advanceAsync(9995, 5);
  assert.equal(checkedAt.length, 9, "once ready, the next check waits the full interval");
  await clock.advanceAsync(5, 5);
  assert.deepEqual(checkedAt.slice(9), [13_575]);
  prober.stopAll();
});

test("start-up: a check that hangs does not hold up the ones after it, and its late miss is dropped", async () => {
  const clock = new FakeClock();
  const start = clock.now();
  const checkedAt: number[] = [];
  let releaseFirst: (outcome: ProbeOutcome) => void = () => undefined;
  const changes: Array<[number, string]> = [];
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => {
      checkedAt.push(clock.now() - start);
      // The first connection stalls (as one to a port published a moment ago can); later ones answer.
      if (checkedAt.length === 1) return new Promise((resolve) => (releaseFirst = resolve));
      return Promise.resolve({ ok: true, message: "up" });
    },
    onVerdictChange: (key) => changes.push([clock.now() - start, prober.state(key)?.verdict ?? ""]),
  });
  prober.ensure("k", probeTargetFor(undefined, { host: "h", port: 1, containerId: "c1" }));
  clock.advance(0);
  await flushPromises();
  await clock.advanceAsync(25, 5);
  assert.deepEqual(checkedAt, [0, 25], "the second check started while the first still hung");
  assert.deepEqual(changes, [[25, "Passed"]]);
  releaseFirst({ ok: false, message: "timed out" });
  await flushPromises();
  assert.equal(prober.state("k")?.consecutiveFailures, 0, "the overtaken miss is not counted");
  assert.equal(prober.state("k")?.message, "up");
  await clock.advanceAsync(10_000, 1000);
  assert.deepEqual(checkedAt, [0, 25, 10_025], "after the verdict, one check per interval");
  prober.stopAll();
});

test("start-up: at most a few checks are in flight at once", async () => {
  const clock = new FakeClock();
  let started = 0;
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => {
      started += 1;
      return new Promise<ProbeOutcome>(() => undefined);
    },
    onVerdictChange: () => undefined,
  });
  prober.ensure("k", probeTargetFor(undefined, { host: "h", port: 1, containerId: "c1" }));
  clock.advance(0);
  await flushPromises();
  await clock.advanceAsync(5000, 5);
  assert.equal(started, MAX_STARTUP_CHECKS_IN_FLIGHT);
  prober.stopAll();
});

test("start-up: fast misses never fail a check sooner than failureThreshold intervals would", async () => {
  const clock = new FakeClock();
  const changes: Array<[number, string]> = [];
  const start = clock.now();
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => Promise.resolve({ ok: false, message: "refused" }),
    onVerdictChange: (key) => changes.push([clock.now() - start, prober.state(key)?.verdict ?? ""]),
  });
  prober.ensure("k", probeTargetFor(undefined, { host: "h", port: 1, containerId: "c1" }));
  clock.advance(0);
  await flushPromises();
  await clock.advanceAsync(19_995, 5);
  assert.equal(prober.state("k")?.verdict, "Pending", "misses within 20 s are not yet a failure");
  assert.ok((prober.state("k")?.consecutiveFailures ?? 0) >= 3);
  await clock.advanceAsync(1000, 5);
  // The first miss was at 0; failureThreshold 3 at 10 s means failed at 20 s at the earliest:
  // at the first start-up check after that (they come every second by then).
  assert.deepEqual(changes, [[20_575, "Failed"]]);
  prober.stopAll();
});

test("start-up: a replaced container starts with fast checks again", async () => {
  const clock = new FakeClock();
  const seen: Array<[string, number]> = [];
  const start = clock.now();
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: (t) => {
      seen.push([t.containerId, clock.now() - start]);
      return Promise.resolve(
        t.containerId === "c1" || seen.length > 3
          ? { ok: true, message: "up" }
          : { ok: false, message: "no" },
      );
    },
    onVerdictChange: () => undefined,
  });
  const where = { host: "h", port: 1 };
  prober.ensure("k", probeTargetFor(undefined, { ...where, containerId: "c1" }));
  clock.advance(0);
  await flushPromises();
  assert.equal(prober.state("k")?.verdict, "Passed");
  prober.ensure("k", probeTargetFor(undefined, { ...where, containerId: "c2" }));
  clock.advance(0);
  await flushPromises();
  await clock.advanceAsync(2000, 5);
  assert.deepEqual(seen, [
    ["c1", 0],
    ["c2", 0],
    ["c2", 25],
    ["c2", 75],
  ]);
  assert.equal(prober.state("k")?.verdict, "Passed");
  prober.stopAll();
});

test("the start-up schedule: 25 ms doubling up to 1 s, never past the interval; the interval after", () => {
  const delays = Array.from({ length: 9 }, (_, i) =>
    nextProbeDelayMs({ intervalMs: 10_000 }, "Pending", i + 1),
  );
  assert.deepEqual(delays, [25, 50, 100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(nextProbeDelayMs({ intervalMs: 10_000 }, "Pending", 10_000), 1000, "no overflow");
  assert.deepEqual(
    [1, 3, 4, 5].map((n) => nextProbeDelayMs({ intervalMs: 300 }, "Pending", n)),
    [25, 100, 200, 300],
  );
  assert.equal(nextProbeDelayMs({ intervalMs: 10_000 }, "Passed", 1), 10_000);
  assert.equal(nextProbeDelayMs({ intervalMs: 10_000 }, "Failed", 3), 10_000);
});

test("thresholds: success and failure thresholds hold in the start-up phase too", () => {
  const target = probeTargetFor(
    { type: "tcp", intervalSeconds: 2, successThreshold: 2, failureThreshold: 2 },
    { host: "h", port: 1, containerId: "c" },
  );
  const ok = { ok: true, message: "ok" };
  const bad = { ok: false, message: "bad" };
  let s = recordOutcome(initialProbeState, ok, thresholdsFor(target, "Pending"), 0);
  assert.equal(s.verdict, "Pending", "one success of two");
  s = recordOutcome(s, bad, thresholdsFor(target, s.verdict), 1000);
  s = recordOutcome(s, bad, thresholdsFor(target, s.verdict), 1500);
  assert.equal(s.verdict, "Pending", "two misses 0.5 s apart are shorter than one 2 s interval");
  s = recordOutcome(s, bad, thresholdsFor(target, s.verdict), 3000);
  assert.equal(s.verdict, "Failed");
  assert.equal(nextProbeDelayMs(target, "Pending", 20), 1000);
  assert.equal(nextProbeDelayMs(target, "Failed"), 2000);
  assert.equal(nextProbeDelayMs({ intervalMs: 500 }, "Pending", 20), 500, "never slower than the interval");
});

test("after the first verdict failures count in checks alone; before the first check the state says it waits", () => {
  const target = probeTargetFor(
    { type: "tcp", intervalSeconds: 10, successThreshold: 1, failureThreshold: 2 },
    { host: "h", port: 1, containerId: "c" },
  );
  assert.deepEqual(thresholdsFor(target, "Passed"), { successThreshold: 1, failureThreshold: 2 });
  assert.deepEqual(thresholdsFor(target, "Pending"), {
    successThreshold: 1,
    failureThreshold: 2,
    minFailingMs: 10_000,
  });
  // Two misses a moment apart fail a check that was ready: its checks come on the interval anyway.
  const bad = { ok: false, message: "refused" };
  let s = recordOutcome(initialProbeState, { ok: true, message: "ok" }, thresholdsFor(target, "Pending"), 0);
  // A state holds only what is known: no failure run after a success, no verdict time yet.
  assert.deepEqual(s, {
    verdict: "Passed",
    consecutiveSuccesses: 1,
    consecutiveFailures: 0,
    message: "ok",
    lastProbeTime: 0,
    verdictSince: 0,
  });
  assert.deepEqual(recordOutcome(initialProbeState, bad, thresholdsFor(target, "Pending"), 5), {
    verdict: "Pending",
    consecutiveSuccesses: 0,
    consecutiveFailures: 1,
    message: "refused",
    lastProbeTime: 5,
    failingSince: 5,
  });
  s = recordOutcome(s, bad, thresholdsFor(target, s.verdict), 10_000);
  assert.equal(s.verdict, "Passed");
  assert.equal(s.verdictSince, 0, "a check that keeps the verdict keeps its time");
  s = recordOutcome(s, bad, thresholdsFor(target, s.verdict), 10_001);
  assert.equal(s.verdict, "Failed");
  assert.equal(s.verdictSince, 10_001);
  assert.equal(initialProbeState.verdict, "Pending");
  assert.equal(initialProbeState.message, "waiting for the first health check");
});

test("a resumed verdict's first own check is reported even when it agrees, later agreeing checks are not", async () => {
  const clock = new FakeClock();
  const changes: string[] = [];
  let calls = 0;
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => {
      calls++;
      return Promise.resolve({ ok: true, message: "up" });
    },
    onVerdictChange: (key) => changes.push(`${key}:${prober.state(key)?.verdict}`),
  });
  prober.ensure("ns/a", fakeTarget(), { verdict: "Passed", message: "adopted" });
  assert.equal(prober.state("ns/a")?.lastProbeTime, undefined, "nothing of its own yet");
  await flushPromises();
  assert.equal(calls, 1, "the first check runs at once");
  assert.deepEqual(
    changes,
    ["ns/a:Passed"],
    "its first own outcome is news: the agent writes its own probe time",
  );
  assert.ok(prober.state("ns/a")?.lastProbeTime !== undefined);
  await clock.advanceAsync(10_000, 5000);
  assert.ok(calls >= 2);
  assert.deepEqual(changes, ["ns/a:Passed"], "agreeing checks after that are not");
  prober.stopAll();
});

test("a verdict reached while a pass waits in firstOutcome is reported as awaited, later ones are not", async () => {
  const clock = new FakeClock();
  const changes: string[] = [];
  let answer: ProbeOutcome = { ok: true, message: "up" };
  const prober = new Prober({
    clock,
    logger: nullLogger,
    probe: () => Promise.resolve(answer),
    onVerdictChange: (key, awaited) => changes.push(`${prober.state(key)?.verdict}:${awaited}`),
  });
  const target = fakeTarget({ initialDelayMs: 0, failureThreshold: 1 });
  prober.ensure("ns/a", target);
  await prober.firstOutcome("ns/a", 100);
  assert.equal(prober.state("ns/a")?.verdict, "Passed", "read by the waiting pass");
  assert.deepEqual(changes, ["Passed:true"], "the waiting pass reads it: no wake-up needed");
  assert.equal(clock.pendingTimers(), 1, "the wait's timer is gone: only the loop's next check");
  answer = { ok: false, message: "down" };
  await clock.advanceAsync(target.intervalMs, target.intervalMs);
  assert.deepEqual(changes, ["Passed:true", "Failed:false"], "after the wait, a change wakes");

  // A wait that ends on its clock: a verdict after it is not awaited.
  prober.ensure("ns/b", fakeTarget({ initialDelayMs: 50, failureThreshold: 1, containerId: "c2" }));
  answer = { ok: true, message: "up" };
  const waited = prober.firstOutcome("ns/b", 10);
  await clock.advanceAsync(10, 10);
  await waited;
  assert.equal(prober.state("ns/b")?.verdict, "Pending");
  await clock.advanceAsync(40, 10);
  assert.deepEqual(changes.slice(2), ["Passed:false"]);
  prober.stopAll();
});
