import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "../api/types.js";
import {
  NOT_RUNNING,
  crashBackOff,
  deploymentFailed,
  instanceAddress,
  preparingImage,
  readinessOf,
  removedOutside,
  resumedVerdict,
  running,
  runningUnchecked,
  terminating,
} from "./instance-observations.js";
import { REASONS } from "./instance-status.js";

const CONTAINER = "0123456789abcdef0123";

function instanceWith(status: Instance["status"]): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "ns", name: "web-0" },
    spec: {
      definition: "web",
      deploymentId: "d1",
      nodeName: "node-a",
      template: { image: { name: "a", port: 80 } },
    },
    ...(status ? { status } : {}),
  };
}

test("a first exit is ContainerExited, a repeated one CrashLoopBackOff, both saying when the restart comes", () => {
  const first = crashBackOff({
    exit: "exited with code 1",
    waitMs: 9_001,
    crashes: 1,
    containerId: "c1",
    restarts: 2,
  });
  assert.equal(first.phase, "Failed");
  assert.equal(first.containerReady.reason, REASONS.containerExited);
  assert.equal(
    first.containerReady.message,
    "exited with code 1; restarting in 10 s (back-off after 1 exits in a row)",
  );
  assert.equal(first.message, "exited with code 1; restarting in 10 s");
  assert.deepEqual(first.ready, NOT_RUNNING);
  assert.equal(first.containerId, "c1");
  assert.equal(first.restarts, 2);
  const again = crashBackOff({
    exit: "exited with code 1",
    waitMs: 20_000,
    crashes: 3,
    containerId: "c1",
    restarts: 4,
  });
  assert.equal(again.containerReady.reason, REASONS.crashLoopBackOff);
  assert.match(again.containerReady.message, /after 3 exits in a row/);
});

test("a container removed outside Berth names the short id and keeps no containerId", () => {
  const observed = removedOutside(CONTAINER, 3);
  assert.equal(observed.phase, "Starting");
  assert.equal(observed.containerReady.reason, REASONS.containerRemovedExternally);
  assert.match(observed.message, /^container 0123456789ab was removed outside Berth/);
  assert.equal(observed.containerId, undefined);
  assert.equal(observed.restarts, 3);
});

test("an image step shows its own phase, reason and message", () => {
  const observed = preparingImage(
    { phase: "Building", reason: REASONS.building, message: "building abc" },
    1,
  );
  assert.equal(observed.phase, "Building");
  assert.deepEqual(observed.containerReady, {
    status: "False",
    reason: REASONS.building,
    message: "building abc",
  });
  assert.equal(observed.message, "building abc");
  assert.deepEqual(observed.ready, NOT_RUNNING);
});

test("a running container that cannot be checked yet says what it waits for", () => {
  const observed = runningUnchecked(CONTAINER, "port 80 is not published yet", 0);
  assert.equal(observed.phase, "Starting");
  assert.equal(observed.containerReady.reason, REASONS.containerCreating);
  assert.equal(
    observed.containerReady.message,
    "container 0123456789ab runs but port 80 is not published yet",
  );
  assert.equal(observed.ready.message, "port 80 is not published yet");
  assert.equal(observed.message, "waiting: port 80 is not published yet");
  assert.equal(observed.containerId, CONTAINER);
});

test("readiness follows the health check's verdict; before any check it says it waits for one", () => {
  assert.deepEqual(readinessOf(undefined), {
    status: "False",
    reason: REASONS.healthCheckPending,
    message: "waiting for the first health check",
  });
  assert.equal(readinessOf({ verdict: "Pending", message: "refused", lastProbeTime: 5 }).message, "refused");
  assert.deepEqual(readinessOf({ verdict: "Passed", message: "200 OK", lastProbeTime: 5 }), {
    status: "True",
    reason: REASONS.healthCheckPassed,
    message: "200 OK",
  });
  assert.equal(
    readinessOf({ verdict: "Failed", message: "500", lastProbeTime: 5 }).reason,
    REASONS.healthCheckFailed,
  );
});

test("an address on an IPv6 node puts the host in brackets in the URL", () => {
  assert.deepEqual(instanceAddress("10.0.0.5", 32000), {
    host: "10.0.0.5",
    port: 32000,
    url: "http://10.0.0.5:32000",
  });
  assert.equal(instanceAddress("fd00::5", 32000).url, "http://[fd00::5]:32000");
});

test("a running container is Running only once it was ready, and says its address when ready now", () => {
  const address = instanceAddress("10.0.0.5", 32000);
  const starting = running({
    containerId: CONTAINER,
    wasRunning: false,
    probe: undefined,
    address,
    restarts: 0,
  });
  assert.equal(starting.phase, "Starting");
  assert.equal(starting.containerReady.reason, REASONS.containerRunning);
  assert.equal(starting.message, "waiting for the first health check");
  assert.deepEqual(starting.address, address);
  const ready = running({
    containerId: CONTAINER,
    wasRunning: true,
    probe: { verdict: "Passed", message: "ok", lastProbeTime: 1 },
    address,
    restarts: 1,
  });
  assert.equal(ready.phase, "Running");
  assert.equal(ready.message, "ready at http://10.0.0.5:32000");
  const failing = running({
    containerId: CONTAINER,
    wasRunning: true,
    probe: { verdict: "Failed", message: "GET / answered 500", lastProbeTime: 1 },
    address,
    restarts: 1,
  });
  assert.equal(failing.phase, "Running");
  assert.equal(failing.ready.status, "False");
  assert.equal(failing.message, "GET / answered 500");
});

test("terminating keeps the last containerId and restarts, and says whether a container is being stopped", () => {
  const withContainer = terminating(instanceWith({ containerId: "c9", restarts: 4 }), true);
  assert.equal(withContainer.phase, "Terminating");
  assert.equal(withContainer.containerReady.status, "True");
  assert.equal(withContainer.containerId, "c9");
  assert.equal(withContainer.restarts, 4);
  const without = terminating(instanceWith(undefined), false);
  assert.equal(without.containerReady.status, "False");
  assert.equal(without.containerId, undefined);
  assert.equal(without.restarts, 0);
});

test("a failure waits as Scheduled, fails otherwise, and leaves ContainerReady Unknown while the engine is down", () => {
  const waiting = deploymentFailed(
    { reason: "DependencyNotReady", handling: "wait", engineDown: false },
    "m",
    0,
  );
  assert.equal(waiting.phase, "Scheduled");
  assert.equal(waiting.containerReady.status, "False");
  const down = deploymentFailed(
    { reason: "EngineUnreachable", handling: "retry", engineDown: true, containerId: "c1" },
    "engine down",
    2,
  );
  assert.equal(down.phase, "Failed");
  assert.deepEqual(down.containerReady, {
    status: "Unknown",
    reason: "EngineUnreachable",
    message: "engine down",
  });
  assert.equal(down.containerId, "c1");
  assert.equal(down.restarts, 2);
  const terminal = deploymentFailed(
    { reason: "InvalidTemplate", handling: "terminal", engineDown: false },
    "bad",
    0,
  );
  assert.equal(terminal.phase, "Failed");
  assert.equal("containerId" in terminal, false);
});

test("a readiness is resumed only for the very container the status calls ready", () => {
  const ready = instanceWith({
    ready: true,
    containerId: "c1",
    conditions: [
      {
        type: "Ready",
        status: "True",
        reason: "HealthCheckPassed",
        message: "200 OK",
        lastTransitionTime: "",
      },
    ],
  });
  assert.deepEqual(resumedVerdict(ready, "c1"), { verdict: "Passed", message: "200 OK" });
  assert.equal(resumedVerdict(ready, "c2"), undefined);
  assert.equal(resumedVerdict(instanceWith({ ...ready.status, ready: false }), "c1"), undefined);
  assert.equal(resumedVerdict(instanceWith(undefined), "c1"), undefined);
});
