/**
 * The agent as its own process (the berth CLI), SIGKILLed the way a crash or an OOM kill
 * ends it: no graceful stop, its Lease and lock file left behind. Started again, it takes
 * its Node back at once (its identity is stable across restarts) and adopts the container
 * that kept running: same container, restarts unchanged, no second one, readiness kept.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { once } from "node:events";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { test } from "node:test";
import assert from "node:assert/strict";
import { LEASES } from "../../controller/src/kube/resources.js";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { RESTARTS_LABEL } from "../../controller/src/agent/container-request.js";
import { type BerthProcess, images, run, startBerthProcess, waitFor } from "../harness/index.js";
import {
  type AgentWorld,
  LEASE_NAMESPACE,
  StatusTimeline,
  agentWorld,
  containersOf,
  createInstance,
  waitForStatus,
} from "./agent-fixtures.js";

const LEASE_DURATION_SECONDS = 40;

/** `berth agent` for the world's node in a child process, running once it logs that it started. */
async function agentProcess(t: TestContext, world: AgentWorld, stateDir: string): Promise<BerthProcess> {
  const agent = startBerthProcess(t, "agent", [
    `--node-name=${world.nodeName}`,
    `--url=${world.url}`,
    `--address=${world.address}`,
    `--node-labels=berth.dev/test=${world.nodeName}`,
    `--node-lease-namespace=${LEASE_NAMESPACE}`,
    `--node-lease-duration=${LEASE_DURATION_SECONDS}s`,
    "--node-lease-renew-interval=1s",
    "--node-status-interval=2s",
    "--agent-resync-interval=3s",
    "--stop-grace-period=2s",
    `--state-dir=${stateDir}`,
    "--log-level=debug",
  ]);
  world.agents.push({ stop: agent.stop });
  await waitFor(
    "the agent process to start",
    () => {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited with ${agent.child.exitCode}`);
      return agent.output().includes('"message":"agent started"');
    },
    { timeoutMs: 60_000 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${agent.output()}`);
  });
  return agent;
}

async function startedAt(world: AgentWorld, containerId: string): Promise<string> {
  const inspected = await run("docker", [
    "-H",
    world.url,
    "inspect",
    "--format",
    "{{.State.StartedAt}}",
    containerId,
  ]);
  assert.equal(inspected.code, 0, inspected.stderr);
  return inspected.stdout.trim();
}

test("a SIGKILLed agent process restarts at once and adopts its running container", async (t) => {
  const world = await agentWorld(t);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-agent-state-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const first = await agentProcess(t, world, stateDir);
  await createInstance(world, "web", {
    image: { name: images.echo, port: 8080, pullPolicy: "IfNotPresent" },
    healthCheck: { type: "http", path: "/healthz", intervalSeconds: 1 },
  });
  const before = await waitForStatus(world, "web", "the Instance to be ready", (s) => s.ready === true);
  const containerStartedAt = await startedAt(world, before.containerId ?? "");
  const leaseRef = { namespace: LEASE_NAMESPACE, name: nodeLeaseName(world.nodeName) };
  const leaseBefore = await world.client.get(LEASES, leaseRef);
  const timeline = await StatusTimeline.start(t, world, "web");

  first.child.kill("SIGKILL");
  await once(first.child, "exit");
  assert.equal(first.child.signalCode, "SIGKILL");
  const lock = JSON.parse(await readFile(path.join(stateDir, "agent.pid"), "utf8")) as { pid: number };
  assert.equal(lock.pid, first.child.pid, "the killed agent left its lock behind");
  const lastRenewal = Date.parse((await world.client.get(LEASES, leaseRef)).spec?.renewTime ?? "");

  const restartedAt = Date.now();
  await agentProcess(t, world, stateDir);
  const leaseAfter = await world.client.get(LEASES, leaseRef);
  assert.equal(leaseAfter.spec?.holderIdentity, leaseBefore.spec?.holderIdentity, "the same identity");
  const acquiredAt = Date.parse(leaseAfter.spec?.acquireTime ?? "");
  assert.ok(acquiredAt >= restartedAt - 1000, "the restarted agent took the Lease anew");
  assert.ok(
    acquiredAt < lastRenewal + LEASE_DURATION_SECONDS * 1000,
    "it took the Lease back while the killed agent's hold had not expired: no wait for expiry",
  );

  // A probe time written after the restart: the new process has looked at the Instance.
  const after = await waitForStatus(
    world,
    "web",
    "a status written by the restarted agent",
    (s) => s.ready === true && Date.parse(s.lastProbeTime ?? "") >= restartedAt,
  );
  assert.equal(after.containerId, before.containerId, "the running container is adopted");
  assert.equal(after.restarts, before.restarts);
  assert.equal(await startedAt(world, before.containerId ?? ""), containerStartedAt, "it was not restarted");
  const containers = await containersOf(world, "web");
  assert.deepEqual(
    containers.map((c) => c.id),
    [before.containerId],
    "no duplicate container",
  );
  assert.equal(containers[0]?.labels[RESTARTS_LABEL], String(before.restarts));
  const flaps = timeline.seen.filter((entry) => entry.status.ready !== true);
  assert.deepEqual(
    flaps.map((entry) => entry.status.conditions?.find((c) => c.type === "Ready")),
    [],
    "the Instance stayed ready through the agent's crash and restart",
  );
});
