import { test } from "node:test";
import assert from "node:assert/strict";
import { LivenessKills, instanceKeyOfProbe, livenessFailureMessage, livenessProbeKey } from "./liveness.js";

test("a liveness loop's key leads back to its Instance; a readiness loop's key is the Instance's", () => {
  const key = livenessProbeKey("ns/web-0");
  assert.notEqual(key, "ns/web-0");
  assert.equal(instanceKeyOfProbe(key), "ns/web-0");
  assert.equal(instanceKeyOfProbe("ns/web-0"), "ns/web-0");
});

test("the exit of a container stopped for its liveness check says so, for that container only", () => {
  const kills = new LivenessKills();
  kills.record("ns/web-0", "c1", livenessFailureMessage(1, "GET / answered 500"));
  assert.equal(
    kills.exitOf("ns/web-0", "c1"),
    "stopped: liveness check failed 1 time in a row (GET / answered 500)",
  );
  assert.equal(kills.exitOf("ns/web-0", "c2"), undefined);
  kills.forget("ns/web-0");
  assert.equal(kills.exitOf("ns/web-0", "c1"), undefined);
});
