/**
 * The discovery mirror with 300 Instances of one service against the real API server:
 * slices of at most 100 endpoints, and one Instance's readiness change rewrites exactly one
 * slice and nothing else. External Instances (objects only, no containers) stand in for a
 * large service; the controller's API writes are counted and printed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Instance } from "../../controller/src/api/types.js";
import { startController } from "../../controller/src/controllers/controller-role.js";
import { INSTANCES, SERVICES } from "../../controller/src/kube/resources.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { registry } from "../../controller/src/runtime/metrics.js";
import { CountingKubeClient } from "../bench/counting-client.js";
import { testNamespace, waitFor } from "../harness/index.js";
import { LEASE_NAMESPACE, client } from "./controller-fixtures.js";
import { mirrorOf, waitForMirror } from "./discovery-fixtures.js";

const COUNT = 300;
const SLUG = "bulk";

/** The controller's writes so far (creates, replaces, patches, deletes), by purpose. */
function writesOf(counting: CountingKubeClient): Map<string, number> {
  return new Map([...counting.snapshot()].filter(([purpose]) => !/^(GET|LIST|WATCH)/.test(purpose)));
}

function difference(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [purpose, count] of after) {
    const delta = count - (before.get(purpose) ?? 0);
    if (delta !== 0) changed[purpose] = delta;
  }
  return changed;
}

async function discoveryReconciles(): Promise<number> {
  const metric = await registry.getSingleMetric("controller_runtime_reconcile_total")?.get();
  return (metric?.values ?? [])
    .filter((v) => v.labels.controller === "discovery")
    .reduce((sum, v) => sum + v.value, 0);
}

/** Runs `work` on every item, `limit` at a time. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

test("300 Instances make 3+ slices of at most 100; one readiness change rewrites exactly one slice", async (t) => {
  const namespace = await testNamespace(t, "berth-disc-scale");
  const counting = new CountingKubeClient(client(), "controller");
  const handle = startController(
    { leaseNamespace: LEASE_NAMESPACE, watchNamespace: namespace },
    { client: counting, logger: createLogger({ level: "error" }) },
  );
  t.after(() => handle.stop());
  await handle.synced();

  const kube = client();
  const names = Array.from({ length: COUNT }, (_, i) => `${SLUG}-ext-${String(i).padStart(3, "0")}`);
  const before = writesOf(counting);
  const passesBefore = await discoveryReconciles();
  await eachLimited(names, 8, async (name) => {
    const i = Number(name.slice(-3));
    const instance: Instance = {
      apiVersion: API_VERSION,
      kind: "Instance",
      metadata: { namespace, name },
      spec: {
        definition: SLUG,
        external: { url: `http://10.77.${Math.floor(i / 200)}.${(i % 200) + 1}:8080`, ttlSeconds: 3600 },
      },
    };
    await kube.create(INSTANCES, instance);
    await kube.patchStatus(
      INSTANCES,
      { namespace, name },
      { status: { ready: true, renewTime: new Date().toISOString() } },
    );
  });
  const full = await waitForMirror(
    namespace,
    SLUG,
    (e) => e.size === COUNT && [...e.values()].every((f) => f.startsWith("ready=true")),
    120_000,
  );
  const sizes = full.slices.map((s) => s.endpoints.length);
  assert.ok(full.slices.length >= 3, `${full.slices.length} slices`);
  assert.ok(
    sizes.every((n) => n <= 100),
    `slice sizes ${sizes.join(", ")}`,
  );
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    COUNT,
  );
  const bulkWrites = difference(writesOf(counting), before);
  t.diagnostic(
    `${COUNT} Instances created and made ready (${2 * COUNT} object writes): ${full.slices.length} slices ` +
      `(${sizes.join(", ")}); the controller wrote ${JSON.stringify(bulkWrites)} in ` +
      `${(await discoveryReconciles()) - passesBefore} discovery passes`,
  );

  // One Instance turns not ready: exactly one slice changes.
  const rvBefore = new Map(full.slices.map((s) => [s.metadata?.name ?? "", s.metadata?.resourceVersion]));
  const writesBefore = writesOf(counting);
  const target = names[150] ?? "";
  await kube.patchStatus(INSTANCES, { namespace, name: target }, { status: { ready: false } });
  await waitForMirror(namespace, SLUG, (e) => e.get(target)?.startsWith("ready=false") === true);
  // Make the mirror look again (an event on its Service) and wait for that pass, so a
  // second write, if the mirror made one, is counted.
  const reconciles = await discoveryReconciles();
  await kube.mergePatch(
    SERVICES,
    { namespace, name: SLUG },
    { metadata: { annotations: { "test.berth.dev/poke": "1" } } },
  );
  await waitFor(
    "the mirror to look at the service again",
    async () => (await discoveryReconciles()) > reconciles,
  );
  const after = await mirrorOf(namespace, SLUG);
  const changed = after.slices.filter(
    (s) => rvBefore.get(s.metadata?.name ?? "") !== s.metadata?.resourceVersion,
  );
  assert.equal(after.slices.length, full.slices.length, "no slice made or removed");
  assert.equal(changed.length, 1, `slices rewritten: ${changed.map((s) => s.metadata?.name).join(", ")}`);
  assert.ok(changed[0]?.endpoints.some((e) => e.targetRef?.name === target));
  const readinessWrites = difference(writesOf(counting), writesBefore);
  assert.deepEqual(readinessWrites, { "PUT endpointslices": 1 });
  t.diagnostic(`one readiness change: the controller wrote ${JSON.stringify(readinessWrites)}`);
});
