import { test } from "node:test";
import assert from "node:assert/strict";
import { misconfiguredCondition, nodeStatusFor } from "./node-status.js";
import type { NodeIdentity } from "./registration.js";
import { isLoopback, leaseHeldBy, microTime } from "./registration.js";

const identity: NodeIdentity = {
  nodeName: "node-a",
  url: "tcp://10.0.0.5:2375",
  address: "10.0.0.5",
  labels: {},
  capacity: { instances: 10, memory: "1Gi", cpus: "2" },
  agentId: "agent-1",
  leaseNamespace: "berth-system",
  leaseDurationSeconds: 40,
};

test("loopback: 127.0.0.0/8, ::1 and localhost are loopback; unix sockets and network hosts are not", () => {
  for (const text of [
    "127.0.0.1",
    "127.0.0.42",
    "localhost",
    "tcp://127.0.0.1:2375",
    "http://[::1]:2375",
    "::1",
  ]) {
    assert.equal(isLoopback(text), true, text);
  }
  for (const text of [
    "10.0.0.5",
    "tcp://10.0.0.5:2375",
    "unix:///var/run/docker.sock",
    "node-a.example.com",
  ]) {
    assert.equal(isLoopback(text), false, text);
  }
});

test("a Lease is held only while its last renewal has not expired", () => {
  const now = Date.parse("2025-01-01T00:01:00Z");
  const lease = (renew: string, holder: string | null = "agent-1") => ({
    spec: { holderIdentity: holder, leaseDurationSeconds: 40, renewTime: microTime(Date.parse(renew)) },
  });
  assert.equal(leaseHeldBy(lease("2025-01-01T00:00:30Z"), now), "agent-1");
  assert.equal(leaseHeldBy(lease("2025-01-01T00:00:10Z"), now), undefined, "expired");
  assert.equal(leaseHeldBy(lease("2025-01-01T00:00:30Z", null), now), undefined, "released");
  assert.equal(leaseHeldBy(undefined, now), undefined);
});

test("a loopback URL or address is flagged only when other Nodes exist", () => {
  const loopback = { url: "tcp://127.0.0.1:2375", address: "127.0.0.1" };
  assert.equal(misconfiguredCondition(loopback, 0).status, "False");
  const flagged = misconfiguredCondition(loopback, 2);
  assert.equal(flagged.status, "True");
  assert.equal(flagged.reason, "LoopbackInMultiNodeRegistry");
  assert.match(flagged.message, /2 other Node/);
  assert.equal(
    misconfiguredCondition({ url: "unix:///var/run/docker.sock", address: "10.0.0.5" }, 2).status,
    "False",
  );
});

test("node status: Ready follows the engine, allocatable subtracts what is placed", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const usage = { instances: 3, memoryBytes: 256 * 1024 ** 2, nanoCpus: 500_000_000 };
  const up = nodeStatusFor(undefined, {
    identity,
    engine: { reachable: true, version: "20.10.24" },
    usage,
    otherNodes: 1,
    now,
  });
  assert.equal(up.ready, "True");
  assert.equal(up.dockerVersion, "20.10.24");
  assert.equal(up.agentId, "agent-1");
  assert.equal(up.instances, 3);
  assert.deepEqual(up.allocatable, { instances: 7, memory: String(768 * 1024 ** 2), cpus: "1500m" });
  assert.equal(up.conditions?.find((c) => c.type === "DockerReachable")?.status, "True");

  const down = nodeStatusFor(up, {
    identity,
    engine: { reachable: false, message: "connect ECONNREFUSED" },
    usage,
    otherNodes: 1,
    now: now + 60_000,
  });
  assert.equal(down.ready, "False");
  assert.equal(down.dockerVersion, "20.10.24", "the last known version stays");
  const ready = down.conditions?.find((c) => c.type === "Ready");
  assert.equal(ready?.reason, "EngineUnreachable");
  assert.equal(ready?.lastTransitionTime, "2025-01-01T00:01:00Z");
  const misconfigured = down.conditions?.find((c) => c.type === "Misconfigured");
  assert.equal(
    misconfigured?.lastTransitionTime,
    "2025-01-01T00:00:00Z",
    "unchanged conditions keep their time",
  );
});
