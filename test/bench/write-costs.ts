/**
 * npm run bench:writes: what each kind of write Berth makes per Instance costs the local
 * control plane's kube-apiserver, in CPU time per write.
 *
 * A client alone (no controller or agent runs) makes BENCH_WRITES objects of each kind,
 * BENCH_CONCURRENCY at a time, shaped as Berth makes them: an Instance as the controller
 * creates it (bound, its template copied from a Definition), the agent's status write of a
 * running Instance (a merge patch with its resourceVersion), the environment Secret the
 * controller delivers, the agent's `Started` Event, and the Definition controller's
 * server-side apply of a Definition's status. The API server's CPU time comes from /proc
 * through its pid file under BERTH_STATE, read before and after each kind.
 *
 * A measurement, not a test: it prints numbers and fails only when something breaks. What it
 * makes is removed at the end.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { API_VERSION, type Definition, type Instance } from "../../controller/src/api/types.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { DEFINITIONS, EVENTS, INSTANCES, NAMESPACES, SECRETS } from "../../controller/src/kube/resources.js";
import { runTemplateOf } from "../../controller/src/controllers/definition/deployment-id.js";
import { desiredInstance } from "../../controller/src/controllers/definition/instances.js";
import { environmentSecret, nodeNamespace } from "../../controller/src/environment/delivery.js";
import { controlPlaneCpu } from "./process-cpu.js";
import { inParallel, simulatedDefinition } from "./workload.js";

function whole(name: string, fallback: number): number {
  const value = Number(process.env[name] || fallback);
  if (!Number.isInteger(value) || value < 1 || value > 100_000) {
    throw new Error(`${name}: expected a whole number from 1 to 100000, got ${process.env[name]}`);
  }
  return value;
}

const WRITES = whole("BENCH_WRITES", 300);
const CONCURRENCY = whole("BENCH_CONCURRENCY", 16);
const REPLICAS = 10;

const client = newKubeClient(loadKubeConfig());
const suffix = randomBytes(3).toString("hex");
const namespace = `berth-writes-${suffix}`;
const node = `writes-${suffix}`;
const apiserverCpu = (): number => {
  const seconds = controlPlaneCpu().get("kube-apiserver");
  if (seconds === undefined) throw new Error("no local kube-apiserver under BERTH_STATE to measure");
  return seconds;
};
const stamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");

async function measure(kind: string, count: number, work: () => Promise<unknown>): Promise<void> {
  const before = apiserverCpu();
  await work();
  const perWrite = ((apiserverCpu() - before) / count) * 1000;
  console.log(`  ${kind.padEnd(52)} ${perWrite.toFixed(2)} ms`);
}

function runningStatus(): NonNullable<Instance["status"]> {
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: "True" as const,
    reason,
    message,
    lastTransitionTime: stamp(),
  });
  return {
    phase: "Running",
    ready: true,
    containerId: randomBytes(32).toString("hex"),
    restarts: 0,
    address: { url: "http://127.0.0.1:30001", host: "127.0.0.1", port: 30001 },
    lastProbeTime: stamp(),
    firstReadyTime: stamp(),
    observedGeneration: 1,
    message: "running",
    conditions: [
      condition("Scheduled", "Bound", `bound to Node ${node}`),
      condition("ContainerReady", "Started", "the container runs"),
      condition("Ready", "HealthCheckPassed", "the health check passes"),
    ],
  };
}

function definitionStatus(ready: number): NonNullable<Definition["status"]> {
  const condition = (type: string, status: "True" | "False", message: string) => ({
    type,
    status,
    reason: status === "True" ? "AllReady" : "Waiting",
    message,
    lastTransitionTime: stamp(),
    observedGeneration: 1,
  });
  return {
    observedGeneration: 1,
    replicas: REPLICAS,
    readyReplicas: ready,
    updatedReplicas: REPLICAS,
    readySummary: `${ready}/${REPLICAS}`,
    addresses: Array.from({ length: ready }, (_, i) => `http://127.0.0.1:${31000 + i}`),
    conditions: [condition("Ready", ready === REPLICAS ? "True" : "False", `${ready} of ${REPLICAS} ready`)],
  };
}

async function run(): Promise<void> {
  console.log(
    `load average at the start: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`,
  );
  console.log(`kube-apiserver CPU per write, ${WRITES} of each kind, ${CONCURRENCY} at a time:`);
  for (const name of [namespace, nodeNamespace(node)]) {
    await client.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  }
  const shape = { replicas: WRITES, selector: { "berth.dev/bench": node }, intervalSeconds: 1 };
  const env = [{ name: "ROLL", value: "0" }];
  const definition = await client.create(
    DEFINITIONS,
    simulatedDefinition(namespace, "writes", { ...shape, env }),
  );
  const template = runTemplateOf(definition.spec);
  const instances: Instance[] = [];
  const ordinals = Array.from({ length: WRITES }, (_, i) => i);

  await measure("Instance create (the controller)", WRITES, () =>
    inParallel(ordinals, CONCURRENCY, async (ordinal) => {
      const instance = desiredInstance(definition, "writes", ordinal, template);
      instance.spec.nodeName = node;
      instances.push(await client.create(INSTANCES, instance));
    }),
  );
  await measure("Instance status merge patch, Running (the agent)", WRITES, () =>
    inParallel(instances, CONCURRENCY, async (instance) => {
      const ref = { namespace, name: instance.metadata.name ?? "" };
      const patch = {
        metadata: { resourceVersion: instance.metadata.resourceVersion },
        status: runningStatus(),
      };
      await client.patchStatus(INSTANCES, ref, patch);
    }),
  );
  await measure("environment Secret create (the controller)", WRITES, () =>
    inParallel(instances, CONCURRENCY, (instance) =>
      client.create(SECRETS, environmentSecret(instance, { env: [["ROLL", "0"]] })),
    ),
  );
  await measure("Event create, Started (the agent)", WRITES, () =>
    inParallel(instances, CONCURRENCY, (instance) =>
      client.create(EVENTS, {
        apiVersion: "events.k8s.io/v1",
        kind: "Event",
        metadata: { namespace, name: `${instance.metadata.name}.${randomBytes(8).toString("hex")}` },
        eventTime: new Date().toISOString().replace(/Z$/, "000Z"),
        reportingController: "berth.dev/agent",
        reportingInstance: node,
        action: "Started",
        reason: "Started",
        type: "Normal",
        note: `Started container ${randomBytes(6).toString("hex")} (image ${template.image?.name})`,
        regarding: {
          apiVersion: API_VERSION,
          kind: "Instance",
          namespace,
          name: instance.metadata.name,
          uid: instance.metadata.uid,
        },
      }),
    ),
  );
  // A Definition's status as its Instances turn ready one by one: REPLICAS applies each.
  const names = Array.from({ length: Math.ceil(WRITES / REPLICAS) }, (_, i) => `status-${i}`);
  await inParallel(names, CONCURRENCY, (name) =>
    client.create(DEFINITIONS, simulatedDefinition(namespace, name, { ...shape, replicas: REPLICAS })),
  );
  await measure("Definition status apply (the Definition controller)", names.length * REPLICAS, () =>
    inParallel(names, CONCURRENCY, async (name) => {
      for (let ready = 1; ready <= REPLICAS; ready++) {
        const body = { apiVersion: API_VERSION, kind: "Definition", metadata: { namespace, name } };
        const status = definitionStatus(ready);
        await client.applyStatus(DEFINITIONS, { ...body, status } as Definition, {
          fieldManager: "berth-definitions",
        });
      }
    }),
  );
  const stored = await client.get(INSTANCES, { namespace, name: instances[0]?.metadata.name ?? "" });
  const { managedFields } = stored.metadata as { managedFields?: unknown };
  const managed = JSON.stringify(managedFields ?? []).length;
  console.log(`a running Instance stored: ${JSON.stringify(stored).length} B, managedFields ${managed} B`);
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`,
  );
}

async function cleanUp(): Promise<void> {
  const held = await client.list(INSTANCES, { namespace });
  // Nothing runs the Instances: their agent's finalizer is let go here.
  await inParallel(held.items, CONCURRENCY, (instance) =>
    client.mergePatch(
      INSTANCES,
      { namespace, name: instance.metadata.name ?? "" },
      { metadata: { finalizers: null } },
    ),
  );
  for (const name of [namespace, nodeNamespace(node)]) {
    await client.delete(NAMESPACES, { name }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

try {
  await run();
} finally {
  await cleanUp();
}
// The client's keep-alive connections would hold the process open.
process.exit(0);
