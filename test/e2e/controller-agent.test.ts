/**
 * End to end: the controller and a real agent in-process against the real API server and
 * Docker engine. A Definition becomes ready addresses that answer; a dependent gets its
 * dependency's address in BERTH_DEP_<SLUG>_URL; deleting a Definition removes its
 * containers before the Definition disappears. The agent gets an extra engine of its own
 * (hack/engines.sh), so a Berth already running on the default engine does not collide.
 */
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { startAgent, type RunningAgent } from "../../controller/src/agent/index.js";
import { DEFINITIONS, NODES, isNotFound } from "../../controller/src/kube/index.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { httpGet, images, run, testNamespace, waitFor } from "../harness/index.js";
import {
  applyDefinition,
  client,
  getDefinition,
  runController,
  waitForCondition,
} from "../integration/controller-fixtures.js";

/** The extra engine this test uses: it publishes ports on 127.0.0.23. */
const ENGINE = 23;

async function startEngine(engine: number): Promise<{ socket: string; stop: () => Promise<void> }> {
  const started = await run("bash", ["hack/engines.sh", "start", String(engine)], { timeoutMs: 60_000 });
  if (started.code !== 0) throw new Error(`hack/engines.sh start ${engine} failed: ${started.stderr}`);
  const stop = async (): Promise<void> => {
    await run("bash", ["hack/engines.sh", "stop", String(engine)], { timeoutMs: 60_000 });
  };
  const loaded = await run("bash", ["hack/engines.sh", "load-images", String(engine)], {
    timeoutMs: 120_000,
  });
  if (loaded.code !== 0) throw new Error(`hack/engines.sh load-images ${engine} failed: ${loaded.stderr}`);
  return { socket: started.stdout.trim().split("\n").pop() ?? "", stop };
}

test("apply, get ready addresses that answer, dependency env, delete removes the containers", async (t) => {
  const namespace = await testNamespace(t, "berth-e2e");
  const labels = { "berth.dev/test": randomBytes(4).toString("hex") };
  const nodeName = `e2e-${labels["berth.dev/test"]}`;
  const engine = await startEngine(ENGINE);
  const socket = engine.socket;
  const running: { agent?: RunningAgent } = {};
  // The agent stops before its engine goes, or it would recreate the containers the stop removes.
  t.after(async () => {
    await running.agent?.stop();
    await engine.stop();
    await client()
      .delete(NODES, { name: nodeName })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  });

  await runController(t);
  running.agent = await startAgent(
    { nodeName, url: `unix://${socket}`, address: `127.0.0.${ENGINE}`, labels },
    { client: client(), logger: createLogger({ level: "error" }) },
  );

  const base = { image: { name: images.echo, port: 8080 }, placement: { nodeSelector: labels } };
  await applyDefinition(namespace, "db", base);
  await applyDefinition(namespace, "web", { ...base, replicas: 2, dependsOn: ["db"] });

  const db = await waitForCondition(namespace, "db", "Ready", "True/InstancesReady", 60_000);
  const web = await waitForCondition(namespace, "web", "Ready", "True/InstancesReady", 60_000);
  const dbAddress = db.status?.addresses?.[0];
  assert.ok(dbAddress);
  assert.equal(web.status?.addresses?.length, 2);
  for (const address of web.status?.addresses ?? []) {
    const answer = await httpGet(`${address}/`);
    assert.equal(answer?.status, 200, `${address} answers`);
    const dependency = await httpGet(`${address}/cgi-bin/env?BERTH_DEP_DB_URL`);
    assert.equal(
      dependency?.body.trim(),
      dbAddress,
      "the dependency's address is offered in the environment",
    );
  }

  await client().delete(DEFINITIONS, { namespace, name: "web" });
  await waitFor("web gone", async () => (await getDefinition(namespace, "web")) === undefined, {
    timeoutMs: 60_000,
  });
  const left = await run("docker", [
    "-H",
    `unix://${socket}`,
    "ps",
    "-aq",
    "--filter",
    `label=berth.dev/namespace=${namespace}`,
    "--filter",
    "label=berth.dev/definition=web",
  ]);
  assert.equal(left.stdout.trim(), "", "no container of web is left once the Definition is gone");

  // Leave nothing behind for the cleanup hooks: db goes the same way.
  await client().delete(DEFINITIONS, { namespace, name: "db" });
  await waitFor("db gone", async () => (await getDefinition(namespace, "db")) === undefined, {
    timeoutMs: 60_000,
  });
  const none = await run("docker", [
    "-H",
    `unix://${socket}`,
    "ps",
    "-aq",
    "--filter",
    `label=berth.dev/namespace=${namespace}`,
  ]);
  assert.equal(none.stdout.trim(), "");
});
