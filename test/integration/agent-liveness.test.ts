/**
 * The liveness check against a real engine: the echo server's /cgi-bin/fail makes its
 * /healthz answer 404, and a container that fails its liveness check failureThreshold times
 * in a row is stopped and replaced: the restart is counted, said in an Event, and a second
 * one in a row waits out the crash-loop back-off (2 s in fastOptions) like any exit. A
 * container whose liveness check never passes is replaced too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { HealthCheck } from "../../controller/src/api/types.js";
import { httpGet, images, waitFor } from "../harness/index.js";
import {
  StatusTimeline,
  agentWorld,
  condition,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

const liveness: HealthCheck = {
  type: "http",
  path: "/healthz",
  intervalSeconds: 1,
  timeoutSeconds: 1,
  failureThreshold: 2,
};

test("a container that fails its liveness check is restarted, counted, and a second failure backs off", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "web", {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
    livenessCheck: liveness,
  });
  const first = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  assert.equal(first.restarts, 0);
  const timeline = await StatusTimeline.start(t, world, "web");

  assert.equal((await httpGet(`${first.address?.url ?? ""}/cgi-bin/fail`))?.status, 200);
  const second = await waitForStatus(
    world,
    "web",
    "a new container, ready, after the liveness check failed",
    (s) => s.ready === true && s.containerId !== first.containerId,
  );
  assert.equal(second.restarts, 1, "the replacement is a restart");
  const events = await waitFor("the LivenessCheckFailed Event", async () => {
    const found = (await eventsOf(world, "web")).filter((e) => e.reason === "LivenessCheckFailed");
    return found.length > 0 ? found : undefined;
  });
  assert.match(
    events[0]?.note ?? "",
    /liveness check failed \d+ times in a row \(GET .*\/healthz answered 404/,
  );
  assert.match(events[0]?.note ?? "", /restarting the container/);

  // The second failure in a row comes after a short run: the crash-loop back-off applies.
  const failAgain = Date.now();
  assert.equal((await httpGet(`${second.address?.url ?? ""}/cgi-bin/fail`))?.status, 200);
  const backingOff = await timeline.first(
    "the back-off after the second liveness failure",
    failAgain,
    (s) => condition(s, "ContainerReady")?.reason === "CrashLoopBackOff",
    60_000,
  );
  assert.match(
    condition(backingOff.status, "ContainerReady")?.message ?? "",
    /stopped: liveness check failed/,
  );
  assert.match(backingOff.status.message ?? "", /restarting in \d+ s/);
  assert.equal(backingOff.status.restarts, 1, "not counted until the new container starts");
  const third = await waitForStatus(
    world,
    "web",
    "a third container after the back-off",
    (s) => s.ready === true && s.containerId !== second.containerId,
  );
  assert.equal(third.restarts, 2);
});

test("a container whose liveness check never passes is restarted", async (t) => {
  const world = await agentWorld(t);
  await runAgent(world);
  await createInstance(world, "never", {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    livenessCheck: { ...liveness, path: "/no-such-page" },
  });
  const running = await waitForStatus(world, "never", "the container to run", (s) => s.phase === "Running");
  const restarted = await waitForStatus(
    world,
    "never",
    "a restart for the liveness check that never passed",
    (s) => (s.restarts ?? 0) >= 1 && s.containerId !== running.containerId,
  );
  assert.ok((restarted.restarts ?? 0) >= 1);
  const events = await eventsOf(world, "never");
  assert.ok(
    events.some((e) => e.reason === "LivenessCheckFailed" && /answered 404/.test(e.note ?? "")),
    JSON.stringify(events.map((e) => [e.reason, e.note])),
  );
});
