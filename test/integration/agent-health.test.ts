/**
 * Readiness follows the health check within what its settings promise: a server that starts
 * failing is not ready after failureThreshold checks (no sooner, and not much later), and
 * ready again after successThreshold passing checks. Times are measured from the test's own
 * request that flips the echo server's /healthz to the status update seen through a watch.
 * The lower bounds are exact (fewer checks than the threshold never flip readiness); the
 * upper bounds only catch a flip that never comes in reasonable time, with a generous margin.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { httpGet, images } from "../harness/index.js";
import {
  StatusTimeline,
  agentWorld,
  condition,
  createInstance,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

const INTERVAL_SECONDS = 1;
const TIMEOUT_SECONDS = 1;
const FAILURE_THRESHOLD = 3;
const SUCCESS_THRESHOLD = 2;
/**
 * How much later than the thresholds' own time a flip may be seen: every check may run into
 * its timeout, and the reconcile, status write and watch delivery come on top; the 10 s are
 * generous so a busy machine does not fail the test. The lower bounds need no margin.
 */
const MARGIN_MS = FAILURE_THRESHOLD * TIMEOUT_SECONDS * 1000 + 10_000;

test("ready goes false after failureThreshold failed checks and true after successThreshold passes", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "web", {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    healthCheck: {
      type: "http",
      path: "/healthz",
      intervalSeconds: INTERVAL_SECONDS,
      timeoutSeconds: TIMEOUT_SECONDS,
      failureThreshold: FAILURE_THRESHOLD,
      successThreshold: SUCCESS_THRESHOLD,
    },
  });
  const ready = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  const url = ready.address?.url ?? "";
  const timeline = await StatusTimeline.start(t, world, "web");

  const failAt = Date.now();
  assert.equal((await httpGet(`${url}/cgi-bin/fail`))?.status, 200);
  assert.equal((await httpGet(`${url}/healthz`))?.status, 404, "the server now fails its health check");
  const notReady = await timeline.first("ready=false", failAt, (s) => s.ready === false, 30_000);
  const failedAfterMs = notReady.at - failAt;
  t.diagnostic(`not ready ${failedAfterMs} ms after /cgi-bin/fail`);
  assert.equal(condition(notReady.status, "Ready")?.reason, "HealthCheckFailed");
  assert.match(condition(notReady.status, "Ready")?.message ?? "", /404/);
  assert.equal(notReady.status.containerId, ready.containerId, "a failing check does not restart");
  // The first failing check may come right after the request; the threshold needs that many in a row.
  assert.ok(
    failedAfterMs >= (FAILURE_THRESHOLD - 1) * INTERVAL_SECONDS * 1000,
    `not ready after ${failedAfterMs} ms: sooner than ${FAILURE_THRESHOLD} checks ${INTERVAL_SECONDS} s apart`,
  );
  assert.ok(
    failedAfterMs <= FAILURE_THRESHOLD * INTERVAL_SECONDS * 1000 + MARGIN_MS,
    `not ready only after ${failedAfterMs} ms`,
  );

  const recoverAt = Date.now();
  assert.equal((await httpGet(`${url}/cgi-bin/recover`))?.status, 200);
  const readyAgain = await timeline.first("ready=true", recoverAt, (s) => s.ready === true, 30_000);
  const recoveredAfterMs = readyAgain.at - recoverAt;
  t.diagnostic(`ready ${recoveredAfterMs} ms after /cgi-bin/recover`);
  assert.equal(condition(readyAgain.status, "Ready")?.reason, "HealthCheckPassed");
  assert.equal(readyAgain.status.containerId, ready.containerId);
  assert.equal(readyAgain.status.restarts, ready.restarts);
  assert.ok(
    recoveredAfterMs >= (SUCCESS_THRESHOLD - 1) * INTERVAL_SECONDS * 1000,
    `ready again after ${recoveredAfterMs} ms: sooner than ${SUCCESS_THRESHOLD} checks ${INTERVAL_SECONDS} s apart`,
  );
  assert.ok(
    recoveredAfterMs <= SUCCESS_THRESHOLD * INTERVAL_SECONDS * 1000 + MARGIN_MS,
    `ready again only after ${recoveredAfterMs} ms`,
  );
  // Between the two, readiness did not flap.
  const between = timeline.seen.filter((entry) => entry.at >= notReady.at && entry.at < readyAgain.at);
  assert.ok(between.every((entry) => entry.status.ready === false));
});
