/**
 * The simulated runtime (`berth agent --runtime=simulated`) against the real API server and
 * the real controller: one process registers several Nodes, each with its own Lease
 * heartbeat, and a Definition's Instances spread over them become ready with addresses
 * through the real agent reconciler, while no container is created on the Docker engine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { resolveAgentOptions } from "../../controller/src/agent/options.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { DEFINITIONS, LEASES, NODES } from "../../controller/src/kube/resources.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { SIMULATED_NODE_LABEL, startSimulatedNodes } from "../../controller/src/simulated/nodes.js";
import { images, run, testNamespace, waitFor } from "../harness/index.js";
import {
  LEASE_NAMESPACE,
  applyDefinition,
  client,
  listInstances,
  runController,
  testLabel,
  waitForCondition,
} from "./controller-fixtures.js";

const NODE_COUNT = 3;
const REPLICAS = 6;

test("one simulated-runtime process runs Instances on several Nodes through the real controller", async (t) => {
  const namespace = await testNamespace(t);
  const labels = testLabel();
  const base = `sim-${Object.values(labels)[0]}`;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), "berth-simulated-"));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const logger = createLogger({ level: process.env.BERTH_TEST_LOG === "1" ? "debug" : "error" });
  await runController(t);
  const nodes = await startSimulatedNodes(
    resolveAgentOptions({
      nodeName: base,
      url: "unix:///var/run/docker.sock",
      address: "127.0.0.1",
      labels,
      stateDir,
      leaseNamespace: LEASE_NAMESPACE,
      watchNamespace: namespace,
    }),
    { nodes: NODE_COUNT, behaviour: { startLatencyMs: 50, readinessDelayMs: 300, failureRate: 0 } },
    { client: client(), logger },
  );
  t.after(async () => {
    await nodes.stop();
    for (const name of nodes.nodeNames) {
      for (const removal of [
        client().delete(NODES, { name }),
        client().delete(LEASES, { namespace: LEASE_NAMESPACE, name: `berth-node-${name}` }),
      ]) {
        await removal.catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
    }
  });
  assert.deepEqual(
    nodes.nodeNames,
    Array.from({ length: NODE_COUNT }, (_, i) => `${base}-${i}`),
  );

  // Every simulated Node is registered as itself, labelled simulated, with its own Lease.
  for (const name of nodes.nodeNames) {
    const node = await client().get(NODES, { name });
    assert.equal(node.spec.labels?.[SIMULATED_NODE_LABEL], "true");
    const lease = await client().get(LEASES, { namespace: LEASE_NAMESPACE, name: `berth-node-${name}` });
    assert.equal(lease.spec?.holderIdentity, `simulated-${name}`);
  }

  await applyDefinition(namespace, "web", {
    image: { name: images.echo, port: 8080 },
    replicas: REPLICAS,
    placement: { nodeSelector: { ...labels, [SIMULATED_NODE_LABEL]: "true" } },
    // Exec checks are what a simulated container answers (after its readiness delay).
    healthCheck: { type: "exec", command: ["true"], intervalSeconds: 1 },
  });
  await waitForCondition(namespace, "web", "Ready", "True/InstancesReady", 60_000);
  const addresses = await waitFor("every address in the Definition's status", async () => {
    const current = await client().get(DEFINITIONS, { namespace, name: "web" });
    return (current.status?.addresses?.length ?? 0) === REPLICAS ? current.status?.addresses : undefined;
  });

  const instances = await listInstances(namespace, "web");
  assert.equal(instances.length, REPLICAS);
  for (const instance of instances) {
    assert.equal(instance.status?.ready, true, `${instance.metadata.name} is ready`);
    assert.ok(nodes.nodeNames.includes(instance.spec.nodeName ?? ""), "bound to a simulated Node");
    const url = instance.status?.address?.url ?? "";
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(addresses?.includes(url), `${url} is listed in the Definition's status`);
  }
  assert.ok(
    new Set(instances.map((i) => i.spec.nodeName)).size > 1,
    "the Instances are spread over more than one simulated Node",
  );

  // The simulated Nodes share the loopback address: each one that got Instances counted the
  // others again (a one-item list and the server's remainingItemCount; an agent watches only
  // its own Node) and says that other machines cannot reach it.
  for (const name of new Set(instances.map((i) => i.spec.nodeName ?? ""))) {
    const others = await waitFor(`${name} counts the other Nodes`, async () => {
      const node = await client().get(NODES, { name });
      const misconfigured = node.status?.conditions?.find((c) => c.type === "Misconfigured");
      const counted = Number(/while (\d+) other Node/.exec(misconfigured?.message ?? "")?.[1] ?? 0);
      return misconfigured?.status === "True" && counted >= NODE_COUNT - 1 ? counted : undefined;
    });
    const all = await client().list(NODES);
    assert.equal(others, all.items.length - 1, `${name}: every other Node counted`);
  }

  // Nothing of it reached the Docker engine.
  for (const name of nodes.nodeNames) {
    const listed = await run("docker", ["ps", "-aq", "--filter", `label=${LABELS.node}=${name}`]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout.trim(), "", `no container on the engine for ${name}`);
  }
});
