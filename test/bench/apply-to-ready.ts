/**
 * npm run bench: apply-to-ready latency of Berth next to plain `docker run`, in one run.
 *
 * Berth: the controller and an agent run in this process against the local control plane
 * and Docker engine; N Definitions (one replica each, the echo test image) are created at
 * once, and each one's latency runs from just before its create request to the moment an
 * address in its status answers HTTP 200.
 * Baseline: N `docker run -d -p 127.0.0.1::8080` of the same image, started at once, each
 * timed from just before the command to the first HTTP 200 on its published port.
 *
 * BENCH_DEFINITIONS sets N (default 20); BENCH_AGENT_WORKERS the agent's parallel deploys
 * (default: the agent's own default, 4).
 *
 * A measurement, not a test: it prints numbers and ratios and fails only when something
 * breaks. Everything it creates (namespace, Node, containers) is removed at the end.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { API_VERSION, type Definition, type Instance } from "../../controller/src/api/types.js";
import { startAgent } from "../../controller/src/agent/agent-role.js";
import { startController } from "../../controller/src/controllers/controller-role.js";
import { DEFINITIONS, INSTANCES, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { createLogger } from "../../controller/src/runtime/log.js";

const run = promisify(execFile);
const IMAGE = "berth-test/echo:1";
const COUNT = positiveInt(process.env.BENCH_DEFINITIONS, 20);
const READY_TIMEOUT_MS = 180_000;

function positiveInt(text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 500) {
    throw new Error(`BENCH_DEFINITIONS must be an integer from 1 to 500, got ${JSON.stringify(text)}`);
  }
  return value;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

interface Summary {
  median: number;
  p99: number;
  count: number;
}

function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), count: sorted.length };
}

// ---------------------------------------------------------------- baseline

async function dockerRunOnce(label: string): Promise<number> {
  const started = performance.now();
  const { stdout } = await run("docker", ["run", "-d", "--label", label, "-p", "127.0.0.1::8080", IMAGE]);
  const id = stdout.trim();
  const { stdout: port } = await run("docker", ["port", id, "8080/tcp"]);
  const url = `http://${port.split("\n")[0]!.trim()}/`;
  const deadline = started + READY_TIMEOUT_MS;
  while (!(await answers(url))) {
    if (performance.now() > deadline) throw new Error(`docker run ${id}: ${url} never answered`);
    await sleep(20);
  }
  return performance.now() - started;
}

async function baseline(): Promise<number[]> {
  const label = `berth-bench=${randomBytes(4).toString("hex")}`;
  try {
    return await Promise.all(Array.from({ length: COUNT }, () => dockerRunOnce(label)));
  } finally {
    const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=${label}`]);
    const ids = stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await run("docker", ["rm", "-f", ...ids]);
  }
}

// ---------------------------------------------------------------- Berth

/** Where the time goes: when each Definition's Instance was first seen created, bound, running, ready. */
const MILESTONES = ["created", "bound", "running", "ready"] as const;
type Milestone = (typeof MILESTONES)[number];

function trackMilestones(
  client: KubeClient,
  namespace: string,
): {
  informer: Informer<Instance>;
  seen: Map<string, Partial<Record<Milestone, number>>>;
} {
  const seen = new Map<string, Partial<Record<Milestone, number>>>();
  const informer = new Informer<Instance>(client, INSTANCES, { namespace });
  const note = (instance: Instance): void => {
    const at = performance.now();
    const marks = seen.get(instance.spec.definition) ?? {};
    marks.created ??= at;
    if (instance.spec.nodeName) marks.bound ??= at;
    if (instance.status?.phase === "Running") marks.running ??= at;
    if (instance.status?.ready === true) marks.ready ??= at;
    seen.set(instance.spec.definition, marks);
  };
  informer.addHandler({ onAdd: note, onUpdate: (_, next) => note(next) });
  informer.start();
  return { informer, seen };
}

interface BerthSamples {
  /** From just before the create request until an address in status answers HTTP 200. */
  applyToAnswers: number[];
  /** From the Instance first seen created until it was first seen ready (the agent's part and binding). */
  instanceToReady: number[];
}

async function berth(client: KubeClient, namespace: string): Promise<BerthSamples> {
  const startedAt = new Map<string, number>();
  const latencies = new Map<string, number>();
  const milestones = trackMilestones(client, namespace);
  await milestones.informer.waitForSync();
  await Promise.all(
    Array.from({ length: COUNT }, async (_, index) => {
      const name = `bench-${index}`;
      const definition: Definition = {
        apiVersion: API_VERSION,
        kind: "Definition",
        metadata: { name, namespace },
        spec: { image: { name: IMAGE, port: 8080 }, replicas: 1 },
      };
      startedAt.set(name, performance.now());
      await client.create(DEFINITIONS, definition);
    }),
  );
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (latencies.size < COUNT) {
    if (performance.now() > deadline) {
      throw new Error(
        `only ${latencies.size} of ${COUNT} Definitions answered within ${READY_TIMEOUT_MS} ms`,
      );
    }
    const { items } = await client.list(DEFINITIONS, { namespace });
    await Promise.all(
      items.map(async (definition) => {
        const name = definition.metadata.name ?? "";
        const address = definition.status?.addresses?.[0];
        if (latencies.has(name) || !address) return;
        if (await answers(address)) latencies.set(name, performance.now() - (startedAt.get(name) ?? 0));
      }),
    );
    await sleep(25);
  }
  await milestones.informer.stop();
  const parts = MILESTONES.map((milestone) => {
    const samples = [...milestones.seen.entries()].flatMap(([name, marks]) =>
      marks[milestone] === undefined ? [] : [marks[milestone] - (startedAt.get(name) ?? 0)],
    );
    return `${milestone} ${summarize(samples).median.toFixed(0)} ms`;
  });
  console.log(`berth, median time from apply until the Instance is: ${parts.join(", ")}`);
  const instanceToReady = [...milestones.seen.values()].flatMap((marks) =>
    marks.created !== undefined && marks.ready !== undefined ? [marks.ready - marks.created] : [],
  );
  return { applyToAnswers: [...latencies.values()], instanceToReady };
}

async function deleteAndWait(client: KubeClient, namespace: string): Promise<void> {
  const { items } = await client.list(DEFINITIONS, { namespace });
  for (const definition of items) {
    await client
      .delete(DEFINITIONS, { namespace, name: definition.metadata.name ?? "" })
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }
  const deadline = Date.now() + 120_000;
  // The finalizers make this wait for the agent to remove every container.
  while ((await client.list(DEFINITIONS, { namespace })).items.length > 0) {
    if (Date.now() > deadline) throw new Error("Definitions were not removed within 120 s");
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const kc = loadKubeConfig();
  const client = newKubeClient(kc);
  const logger = createLogger({ level: "warn" });
  const suffix = randomBytes(3).toString("hex");
  const namespace = `berth-bench-${suffix}`;
  const nodeName = `bench-${suffix}`;

  console.log(`apply-to-ready: ${COUNT} Definitions of ${IMAGE}, one replica each`);
  const docker = summarize(await baseline());

  await client.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  const controller = startController({}, { client, logger });
  const agent = await startAgent(
    {
      nodeName,
      url: process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock",
      address: "127.0.0.1",
      labels: {},
      ...(process.env.BENCH_AGENT_WORKERS ? { workers: Number(process.env.BENCH_AGENT_WORKERS) } : {}),
    },
    { client, logger },
  );
  let result: Summary | undefined;
  let instance: Summary | undefined;
  try {
    await controller.synced();
    const samples = await berth(client, namespace);
    result = summarize(samples.applyToAnswers);
    instance = summarize(samples.instanceToReady);
  } finally {
    await deleteAndWait(client, namespace).catch((err: unknown) => console.error("cleanup:", err));
    await agent.stop();
    await controller.stop();
    await client
      .delete(NAMESPACES, { name: namespace })
      .catch((err: unknown) => console.error("cleanup:", err));
    await client.delete(NODES, { name: nodeName }).catch((err: unknown) => {
      if (!isNotFound(err)) console.error("cleanup:", err);
    });
  }

  const ms = (value: number): string => `${value.toFixed(0).padStart(6)} ms`;
  console.log(`                         median        p99`);
  console.log(`docker run -> answers  ${ms(docker.median)}  ${ms(docker.p99)}`);
  console.log(`berth apply -> answers ${ms(result.median)}  ${ms(result.p99)}`);
  console.log(
    `instance created -> ready ${ms(instance.median)}  ${ms(instance.p99)}   (n=${instance.count})`,
  );
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2).padStart(9)}x`;
  console.log(
    `ratio berth/docker     ${ratio(result.median, docker.median)} ${ratio(result.p99, docker.p99)}`,
  );
  console.log(
    `ratio instance/docker  ${ratio(instance.median, docker.median)} ${ratio(instance.p99, docker.p99)}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
