import { test } from "node:test";
import assert from "node:assert/strict";
import { SIMULATED_CRASH_EXIT_CODE, SimulatedEngine } from "./engine.js";

const spec = { name: "x", image: "app:1", labels: {} };

async function started(engine: SimulatedEngine): Promise<{ id: string; port: number }> {
  const id = await engine.createContainer(spec);
  await engine.startContainer(id);
  const port = (await engine.inspectContainer(id)).ports[0]?.hostPort;
  assert.ok(port !== undefined, "a started container publishes its port");
  return { id, port };
}

test("engines with port ranges of their own never publish the same port (Nodes sharing an address)", async () => {
  const engines = [0, 1].map(
    (i) =>
      new SimulatedEngine({
        url: `tcp://n${i}`,
        bindAddress: "127.0.0.1",
        hostPorts: { first: 40000 + i * 3, count: 3 },
      }),
  );
  const ports = [];
  for (const engine of engines) for (let i = 0; i < 3; i++) ports.push((await started(engine)).port);
  assert.deepEqual(ports, [40000, 40001, 40002, 40003, 40004, 40005]);
});

test("a port is handed out again only once its container is gone, and a full range refuses a start", async () => {
  const engine = new SimulatedEngine({
    url: "tcp://n",
    bindAddress: "127.0.0.1",
    hostPorts: { first: 50000, count: 2 },
  });
  const first = await started(engine);
  const second = await started(engine);
  await assert.rejects(started(engine), /no free host port/);
  await engine.stopContainer(first.id);
  const third = await started(engine);
  assert.equal(third.port, first.port);
  assert.notEqual(third.port, second.port);
  await engine.startContainer(third.id);
  assert.equal(
    (await engine.inspectContainer(third.id)).ports[0]?.hostPort,
    third.port,
    "a second start keeps the port",
  );
});

test("exec checks fail until the readiness delay has passed; a start may crash at the failure rate", async () => {
  let now = 1_000_000;
  const engine = new SimulatedEngine({
    url: "tcp://n",
    bindAddress: "127.0.0.1",
    behaviour: { startLatencyMs: 0, readinessDelayMs: 500, failureRate: 0.5 },
    now: () => now,
    random: () => 0.7,
  });
  const { id } = await started(engine);
  assert.equal((await engine.exec(id)).exitCode, 1);
  now += 500;
  assert.equal((await engine.exec(id)).exitCode, 0);

  const crashing = new SimulatedEngine({
    url: "tcp://n",
    bindAddress: "127.0.0.1",
    behaviour: { startLatencyMs: 0, readinessDelayMs: 0, failureRate: 0.5 },
    random: () => 0.2,
  });
  const crashed = await crashing.createContainer(spec);
  await crashing.startContainer(crashed);
  const state = (await crashing.inspectContainer(crashed)).state;
  assert.equal(state.running, false);
  assert.equal(state.exitCode, SIMULATED_CRASH_EXIT_CODE);
});
