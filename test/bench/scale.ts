/**
 * npm run bench:scale: how the control plane converges many Instances over many Nodes.
 *
 * The controller and the agent run in processes of their own (scale-role.ts) against the
 * local control plane; the agent runs BENCH_NODES Nodes on the simulated runtime (no
 * container runs). BENCH_DEFINITIONS Definitions × BENCH_REPLICAS replicas are created
 * BENCH_CONCURRENCY at a time and timed until every Instance is ready; the API write floor is
 * the same client creating and status-patching as many bare Instances with the same
 * concurrency, before Berth starts. Then a rolling update of every Definition and the
 * deletion of everything, each timed. Defaults are small (20 × 5 over 10 Nodes); the
 * issue's target is BENCH_DEFINITIONS=1000 BENCH_REPLICAS=10 BENCH_NODES=100.
 *
 * A measurement, not a test: it prints numbers and fails only when something breaks.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { API_VERSION, type Definition, type Instance } from "../../controller/src/api/types.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { nodeNamespace } from "../../controller/src/environment/delivery.js";
import {
  DEFINITIONS,
  INSTANCES,
  LEASES,
  NAMESPACES,
  NODES,
  SECRETS,
} from "../../controller/src/kube/resources.js";
import { runTemplateOf } from "../../controller/src/controllers/definition/deployment-id.js";
import { RoleProcess, roleCommand } from "./role-process.js";
import { perInstance, printDuplicates, printEvents, printRequests } from "./scale-report.js";
import { inParallel, simulatedDefinition, waitUntil } from "./workload.js";
import { controlPlaneCpu } from "./process-cpu.js";

const DEFINITION_COUNT = whole("BENCH_DEFINITIONS", 20);
const REPLICAS = whole("BENCH_REPLICAS", 5);
const NODE_COUNT = whole("BENCH_NODES", 10);
const CONCURRENCY = whole("BENCH_CONCURRENCY", 16);
/** How long convergence may take before the run reports how far it got and stops. */
const CONVERGE_TIMEOUT_MS = whole("BENCH_CONVERGE_TIMEOUT_S", 1800) * 1000;
const TOTAL = DEFINITION_COUNT * REPLICAS;
/**
 * BENCH_COMPILED=1: the roles run as Berth runs in production (the image's entry point and the
 * controller manifest's heap limit): JavaScript compiled by tsc with the build's options, under
 * plain node, instead of TypeScript under tsx, whose loader takes memory of its own.
 */
const COMPILED = flag("BENCH_COMPILED");
/** BENCH_SKIP_ROLLING_UPDATE=1: straight from convergence to deletion (at 10,000 it saves ~20 minutes). */
const SKIP_ROLLING_UPDATE = flag("BENCH_SKIP_ROLLING_UPDATE");

function flag(name: string): boolean {
  const text = process.env[name] ?? "";
  if (text !== "" && text !== "0" && text !== "1") {
    throw new Error(`${name}: expected 0 or 1, got ${JSON.stringify(text)}`);
  }
  return text === "1";
}

function whole(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 100_000) {
    throw new Error(`${name}: expected a whole number from 1 to 100000, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** How long a phase may take, and how often it is looked at. */
const WAIT = { timeoutMs: 1_800_000, intervalMs: 250 };

const loadAverage = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await client.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
}

/** The floor: TOTAL bare Instances created and status-patched by this client, CONCURRENCY at a time. */
async function writeFloor(client: KubeClient, namespace: string): Promise<number> {
  const template = runTemplateOf(definitionOf(namespace, "floor", "0", "floor").spec);
  const names = Array.from({ length: TOTAL }, (_, i) => `floor-${i}`);
  const started = Date.now();
  await inParallel(names, CONCURRENCY, async (name) => {
    // As the controller would make it: the Definition's run template and a deploymentId.
    const instance: Instance = {
      apiVersion: API_VERSION,
      kind: "Instance",
      metadata: { name, namespace },
      spec: { definition: "floor", deploymentId: "floor", template },
    };
    await client.create(INSTANCES, instance);
    await client.patchStatus(INSTANCES, { namespace, name }, { status: { ready: true } });
  });
  return Date.now() - started;
}

function definitionOf(namespace: string, name: string, roll: string, nodeBase: string): Definition {
  return simulatedDefinition(namespace, name, {
    replicas: REPLICAS,
    selector: { "berth.dev/bench": nodeBase },
    intervalSeconds: 1,
    env: [{ name: "ROLL", value: roll }],
  });
}

/** A new env value in every Definition, timed until every Instance is of the update and ready. */
async function rollingUpdate(
  client: KubeClient,
  namespace: string,
  nodeBase: string,
  names: string[],
  instances: Informer<Instance>,
): Promise<void> {
  let maxUnavailable = 0;
  // The env values reach Instances through the Node's environment Secret, not the template:
  // an Instance is of the update when its deploymentId is not one from before it.
  const before = new Set(instances.list().map((i) => i.spec.deploymentId));
  const rollStarted = Date.now();
  await inParallel(names, CONCURRENCY, async (name) => {
    const current = await client.get(DEFINITIONS, { namespace, name });
    await client.replace(DEFINITIONS, {
      ...definitionOf(namespace, name, "1", nodeBase),
      metadata: current.metadata,
    });
  });
  await waitUntil("the rolling update done", WAIT, async () => {
    const items = instances.list();
    const readyPerDefinition = new Map<string, number>();
    for (const i of items) {
      if (i.status?.ready === true && !i.metadata.deletionTimestamp) {
        readyPerDefinition.set(i.spec.definition, (readyPerDefinition.get(i.spec.definition) ?? 0) + 1);
      }
    }
    for (const name of names) {
      maxUnavailable = Math.max(
        maxUnavailable,
        REPLICAS - Math.min(REPLICAS, readyPerDefinition.get(name) ?? 0),
      );
    }
    const rolled = items.filter((i) => i.status?.ready === true && !before.has(i.spec.deploymentId));
    return items.length === TOTAL && rolled.length === TOTAL;
  });
  console.log(
    `rolling update of ${DEFINITION_COUNT} Definitions: ${seconds(Date.now() - rollStarted)}, at most ${maxUnavailable} of ${REPLICAS} replicas of a Definition unavailable (sampled every 250 ms)`,
  );
}

async function main(): Promise<void> {
  const client = newKubeClient(loadKubeConfig());
  const suffix = randomBytes(3).toString("hex");
  const namespace = `berth-scale-${suffix}`;
  const floorNamespace = `berth-scale-floor-${suffix}`;
  const nodeBase = `scale-${suffix}`;
  console.log(`load average at the start: ${loadAverage()}`);
  console.log(
    `scale: ${DEFINITION_COUNT} Definitions × ${REPLICAS} replicas = ${TOTAL} Instances over ${NODE_COUNT} simulated Nodes, ${CONCURRENCY} requests at a time`,
  );
  const command = roleCommand(COMPILED);
  console.log(`roles: ${COMPILED ? "compiled JavaScript under node" : "TypeScript under tsx"}`);

  await createNamespace(client, floorNamespace);
  const floorMs = await writeFloor(client, floorNamespace);
  console.log(`API write floor: ${TOTAL} Instances created and status-patched in ${seconds(floorMs)}`);
  // The floor's Instances are deleted before anything of Berth's starts: the namespace's
  // deletion (a delete and a watch event per Instance) would otherwise take the API server's
  // CPU while Berth converges, and be counted as Berth's.
  const floorDeleteStarted = Date.now();
  await client.delete(NAMESPACES, { name: floorNamespace });
  await waitUntil("the floor's namespace gone", WAIT, async () =>
    client.get(NAMESPACES, { name: floorNamespace }).then(
      () => false,
      (err: unknown) => {
        if (isNotFound(err)) return true;
        throw err;
      },
    ),
  );
  console.log(`the floor's Instances deleted in ${seconds(Date.now() - floorDeleteStarted)}`);

  await createNamespace(client, namespace);
  const env = {
    BENCH_NAMESPACE: namespace,
    BENCH_NODES: String(NODE_COUNT),
    BENCH_NODE_BASE: nodeBase,
  };
  // The bench watches (one list, then a watch) rather than polling lists: at thousands of
  // Instances a list every 250 ms would be a load on the API server of its own.
  const instances = new Informer(client, INSTANCES, { namespace });
  const definitions = new Informer(client, DEFINITIONS, { namespace });
  instances.start();
  definitions.start();
  await Promise.all([instances.waitForSync(), definitions.waitForSync()]);
  const names = Array.from({ length: DEFINITION_COUNT }, (_, i) => `svc-${i}`);
  const controller = new RoleProcess("controller", env, command);
  const agent = new RoleProcess("agent", env, command);
  try {
    await Promise.all([controller.ready(), agent.ready()]);
    const [controllerBefore, agentBefore] = [await controller.measure(), await agent.measure()];

    const controlPlaneBefore = controlPlaneCpu();
    const started = Date.now();
    await inParallel(names, CONCURRENCY, async (name) => {
      await client.create(DEFINITIONS, definitionOf(namespace, name, "0", nodeBase));
    });
    let lastProgress = Date.now();
    const converging = { ...WAIT, timeoutMs: CONVERGE_TIMEOUT_MS };
    const converged = await waitUntil("every Instance ready", converging, async () => {
      const items = instances.list();
      const ready = items.filter((i) => i.status?.ready === true).length;
      if (Date.now() - lastProgress >= 10_000) {
        lastProgress = Date.now();
        const bound = items.filter((i) => i.spec.nodeName).length;
        console.log(
          `  ${seconds(Date.now() - started)}: ${items.length} created, ${bound} bound, ${ready} ready (load ${loadAverage()})`,
        );
      }
      return ready === TOTAL;
    })
      .then(() =>
        waitUntil("every Definition's addresses written", converging, async () => {
          const items = definitions.list();
          return (
            items.length === DEFINITION_COUNT && items.every((d) => d.status?.addresses?.length === REPLICAS)
          );
        }),
      )
      .then(
        () => true,
        () => false,
      );
    const convergeMs = Date.now() - started;
    if (converged) {
      console.log(
        `converged: all ${TOTAL} Instances ready and every address in its Definition's status in ${seconds(convergeMs)} (${(convergeMs / floorMs).toFixed(2)}× the write floor)`,
      );
    } else {
      // What follows is measured at the stop; figures per Instance are per Instance asked for.
      const items = instances.list();
      console.log(
        `NOT converged within BENCH_CONVERGE_TIMEOUT_S: stopped at ${seconds(convergeMs)} (${(convergeMs / floorMs).toFixed(2)}× the write floor) with ${items.length} created, ${items.filter((i) => i.spec.nodeName).length} bound, ${items.filter((i) => i.status?.ready === true).length} ready of ${TOTAL}`,
      );
    }

    const [controllerPeak, agentPeak] = [await controller.measure(), await agent.measure()];
    console.log("memory after GC, before any Definition → at the peak:");
    for (const [role, before, peak] of [
      ["controller", controllerBefore, controllerPeak],
      ["agent", agentBefore, agentPeak],
    ] as const) {
      console.log(
        `  ${role.padEnd(10)} RSS ${before.rssMiB.toFixed(0)} → ${peak.rssMiB.toFixed(0)} MiB, heap ${before.heapMiB.toFixed(1)} → ${peak.heapMiB.toFixed(1)} MiB (${(((peak.heapMiB - before.heapMiB) * 1024) / TOTAL).toFixed(2)} KiB per Instance)`,
      );
    }
    console.log("CPU time and event-loop delay p99 from the first Definition to convergence:");
    for (const [role, before, peak] of [
      ["controller", controllerBefore, controllerPeak],
      ["agent", agentBefore, agentPeak],
    ] as const) {
      console.log(
        `  ${role.padEnd(10)} CPU ${(peak.cpuSeconds - before.cpuSeconds).toFixed(1)} s (${((100 * (peak.cpuSeconds - before.cpuSeconds) * 1000) / convergeMs).toFixed(0)}% of one core), event-loop delay p99 ${peak.eventLoopDelayP99Ms.toFixed(0)} ms`,
      );
    }
    for (const [name, cpu] of controlPlaneCpu()) {
      const used = cpu - (controlPlaneBefore.get(name) ?? 0);
      console.log(
        `  ${name.padEnd(10)} CPU ${used.toFixed(1)} s (${((100 * used * 1000) / convergeMs).toFixed(0)}% of one core)`,
      );
    }
    console.log("API requests per Instance, from creation to ready (by verb and resource):");
    printRequests("controller", perInstance(controllerBefore, controllerPeak, TOTAL));
    printRequests("agent", perInstance(agentBefore, agentPeak, TOTAL));
    console.log("Events per Instance, from creation to ready (by outcome):");
    printEvents("controller", controllerBefore, controllerPeak, TOTAL);
    printEvents("agent", agentBefore, agentPeak, TOTAL);
    console.log("reconcile latency p99 (histogram bucket bound):");
    for (const m of [controllerPeak, agentPeak]) {
      for (const [name, p99] of Object.entries(m.reconcileP99Ms)) {
        console.log(`  ${name.padEnd(24)} ${p99 === Infinity ? "> 60 s" : `≤ ${p99} ms`}`);
      }
    }

    console.log("queue wait p99 (before a worker took the key; histogram bucket bound):");
    for (const m of [controllerPeak, agentPeak]) {
      for (const [name, p99] of Object.entries(m.queueWaitP99Ms)) {
        console.log(`  ${name.padEnd(24)} ${p99 === Infinity ? "> 60 s" : `≤ ${p99} ms`}`);
      }
    }
    console.log("reconciles per Instance, from creation to ready (by controller and result):");
    for (const [before, peak] of [
      [controllerBefore, controllerPeak],
      [agentBefore, agentPeak],
    ] as const) {
      for (const [what, count] of Object.entries(peak.reconciles)) {
        const delta = count - (before.reconciles[what] ?? 0);
        if (delta > 0) console.log(`  ${what.padEnd(40)} ${(delta / TOTAL).toFixed(2)}`);
      }
    }

    if (!converged) throw new Error(`not converged within ${CONVERGE_TIMEOUT_MS / 1000} s`);

    if (SKIP_ROLLING_UPDATE) console.log("rolling update: skipped (BENCH_SKIP_ROLLING_UPDATE)");
    else await rollingUpdate(client, namespace, nodeBase, names, instances);
    const controllerRolled = SKIP_ROLLING_UPDATE ? controllerPeak : await controller.measure();

    const deleteStarted = Date.now();
    await inParallel(names, CONCURRENCY, async (name) => {
      await client.delete(DEFINITIONS, { namespace, name }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    });
    await waitUntil(
      "everything deleted",
      WAIT,
      async () => instances.list().length === 0 && definitions.list().length === 0,
    );
    const deleteMs = Date.now() - deleteStarted;
    const [controllerAfter, agentAfter] = [await controller.measure(), await agent.measure()];
    let secretsLeft = 0;
    for (let i = 0; i < NODE_COUNT; i++) {
      const { items } = await client.list(SECRETS, { namespace: nodeNamespace(`${nodeBase}-${i}`) });
      secretsLeft += items.length;
    }
    console.log(
      `deletion of everything: ${seconds(deleteMs)}; left over: 0 Definitions, 0 Instances, ${agentAfter.containers} simulated containers, ${secretsLeft} environment Secrets in the Nodes' namespaces`,
    );
    console.log("the controller's Instance writes beyond what each phase needed:");
    printDuplicates("converging", controllerBefore, controllerPeak, { creates: TOTAL, deletes: 0 }, TOTAL);
    if (!SKIP_ROLLING_UPDATE) {
      printDuplicates(
        "rolling update",
        controllerPeak,
        controllerRolled,
        { creates: TOTAL, deletes: TOTAL },
        TOTAL,
      );
    }
    printDuplicates("deletion", controllerRolled, controllerAfter, { creates: 0, deletes: TOTAL }, TOTAL);
    console.log("Events per Instance over the whole run (by outcome):");
    printEvents("controller", controllerBefore, controllerAfter, TOTAL);
    printEvents("agent", agentBefore, agentAfter, TOTAL);
  } finally {
    // After a failure, the roles still running remove what was made (finalizers and all).
    if (definitions.list().length > 0 || instances.list().length > 0) {
      await inParallel(names, CONCURRENCY, (name) =>
        client.delete(DEFINITIONS, { namespace, name }).catch(() => undefined),
      );
      await waitUntil(
        "the cleanup",
        { timeoutMs: 300_000, intervalMs: 1000 },
        async () => instances.list().length === 0,
      ).catch((err: unknown) => console.error(String(err)));
    }
    await Promise.all([instances.stop(), definitions.stop()]);
    await Promise.all([controller.stop(), agent.stop()]);
    controller.kill();
    agent.kill();
    await client.delete(NAMESPACES, { name: namespace }).catch(() => undefined);
    for (let i = 0; i < NODE_COUNT; i++) {
      const name = `${nodeBase}-${i}`;
      await client.delete(NODES, { name }).catch(() => undefined);
      await client.delete(NAMESPACES, { name: nodeNamespace(name) }).catch(() => undefined);
      await client
        .delete(LEASES, { namespace: "berth-system", name: `berth-node-${name}` })
        .catch(() => undefined);
    }
  }
}

await main();
