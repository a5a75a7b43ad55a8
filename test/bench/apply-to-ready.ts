/**
 * npm run bench: apply-to-ready latency of Berth next to two baselines, in one run.
 *
 * Berth: the controller and an agent run in this process against the local control plane
 * and Docker engine. A Definition (one replica, the echo test image) is timed from just
 * before its create request to the first HTTP 200 on the address its status lists; the
 * stage marks of the controller and the agent (runtime/stage-trace.ts) split that time.
 * Baselines (engine-baselines.ts): the same container by `docker run`, and created and
 * started through the Engine API directly (the floor).
 *
 * Two modes, both by default (BENCH_MODE=single|parallel|both):
 * - single: BENCH_TRIALS (default 10) sequential trials of one Definition, each trial timing
 *   `docker run`, the Engine API and Berth one after the other on an otherwise idle engine;
 * - parallel: BENCH_DEFINITIONS (default 20) at once, for each of the three in turn.
 * BENCH_AGENT_WORKERS and BENCH_DEFINITION_WORKERS set the agent's and the Definition
 * controller's workers, BENCH_MAX_PARALLEL_STARTS the agent's --max-parallel-starts
 * (default: their own defaults). The parallel mode also prints the agent's engine calls by
 * operation, the controller's and the agent's API requests by purpose, and how busy the
 * machine's CPU was during each burst and who took it; BENCH_CPU_PROF=DIR writes a CPU
 * profile of Berth's burst there.
 *
 * A measurement, not a test: it prints numbers and ratios (with the load average, as the
 * machine may be shared) and fails only when something breaks. Everything it creates
 * (namespace, Node, containers) is removed at the end.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { API_VERSION, type Definition } from "../../controller/src/api/types.js";
import { startAgent } from "../../controller/src/agent/agent-role.js";
import { startController } from "../../controller/src/controllers/controller-role.js";
import { DEFINITIONS, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { reconcileTotal } from "../../controller/src/runtime/metrics.js";
import {
  IMAGE,
  READY_TIMEOUT_MS,
  dockerRunBaseline,
  engineApiBaseline,
  waitForAnswer,
  type Baseline,
  type BaselineSample,
} from "./engine-baselines.js";
import { StageRecorder, printBreakdown, summarize, type Summary } from "./stage-breakdown.js";
import { EngineCallLog } from "./engine-calls.js";
import { cpuWindow } from "./process-cpu.js";
import { CountingKubeClient } from "./counting-client.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 500) {
    throw new Error(`${name} must be an integer from 1 to 500, got ${JSON.stringify(text)}`);
  }
  return value;
}

const MODE = process.env.BENCH_MODE ?? "both";
if (!["single", "parallel", "both"].includes(MODE)) {
  throw new Error(`BENCH_MODE must be single, parallel or both, got ${JSON.stringify(MODE)}`);
}
const TRIALS = positiveInt("BENCH_TRIALS", 10);
const COUNT = positiveInt("BENCH_DEFINITIONS", 20);

const load = (): string =>
  `load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")}`;

/**
 * What Berth's part of a mode cost this process (controller, agent and the benchmark's own
 * polling together): CPU time against wall time, and how late its event loop ran. On a
 * busy machine a late event loop shows in every stage.
 */
function processCost(): () => string {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  return () => {
    delay.disable();
    const used = process.cpuUsage(cpu);
    const wall = performance.now() - started;
    const cpuMs = (used.user + used.system) / 1000;
    return (
      `this process during Berth's part: CPU ${cpuMs.toFixed(0)} ms in ${wall.toFixed(0)} ms wall ` +
      `(${((100 * cpuMs) / wall).toFixed(0)}% of a core); event loop delay p50 ` +
      `${(delay.percentile(50) / 1e6).toFixed(0)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms`
    );
  };
}

/** Reconcile passes per controller and result so far (conflicts and errors show as requeue/error). */
async function reconcileCounts(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const value of (await reconcileTotal.get()).values) {
    counts.set(`${value.labels.controller}/${value.labels.result}`, value.value);
  }
  return counts;
}

async function reconcileDelta(before: Map<string, number>): Promise<string> {
  const after = await reconcileCounts();
  const parts: string[] = [];
  for (const [key, value] of [...after.entries()].sort()) {
    const delta = value - (before.get(key) ?? 0);
    if (delta > 0) parts.push(`${key} ${delta}`);
  }
  return `reconcile passes (controller/result): ${parts.join(", ")}`;
}

// ---------------------------------------------------------------- Berth

interface Bench {
  client: KubeClient;
  /** The controller's and the agent's clients, counting their requests by purpose. */
  roles: CountingKubeClient[];
  /** The agent's engine calls. */
  engineCalls: EngineCallLog;
  namespace: string;
  /** Definitions whose status lists an address, with the first one, as the watch shows them. */
  addresses: Map<string, { url: string; at: number }>;
  addressListeners: Set<() => void>;
}

function watchAddresses(bench: Pick<Bench, "client" | "namespace">): {
  informer: Informer<Definition>;
  addresses: Bench["addresses"];
  addressListeners: Bench["addressListeners"];
} {
  const addresses: Bench["addresses"] = new Map();
  const addressListeners: Bench["addressListeners"] = new Set();
  const informer = new Informer<Definition>(bench.client, DEFINITIONS, { namespace: bench.namespace });
  const note = (definition: Definition): void => {
    const name = definition.metadata.name ?? "";
    const url = definition.status?.addresses?.[0];
    if (!url || addresses.has(name)) return;
    addresses.set(name, { url, at: performance.now() });
    for (const listener of addressListeners) listener();
  };
  informer.addHandler({ onAdd: note, onUpdate: (_, next) => note(next) });
  informer.start();
  return { informer, addresses, addressListeners };
}

async function addressOf(bench: Bench, name: string): Promise<string> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    const found = bench.addresses.get(name);
    if (found) return found.url;
    if (performance.now() > deadline) throw new Error(`Definition ${name} listed no address in time`);
    await new Promise<void>((resolve) => {
      const listener = (): void => {
        bench.addressListeners.delete(listener);
        resolve();
      };
      bench.addressListeners.add(listener);
      setTimeout(listener, 1000);
    });
  }
}

/** Creates the Definition and waits for its address to answer; returns apply -> answer (ms). */
async function berthOnce(bench: Bench, recorder: StageRecorder, name: string): Promise<number> {
  const definition: Definition = {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace: bench.namespace },
    spec: { image: { name: IMAGE, port: 8080 }, replicas: 1 },
  };
  const t0 = performance.now();
  recorder.note(name, "applied", t0);
  await bench.client.create(DEFINITIONS, definition);
  const url = await addressOf(bench, name);
  const answeredAt = await waitForAnswer(url, `Definition ${name}`);
  recorder.note(name, "answers", answeredAt);
  return answeredAt - t0;
}

async function deleteAndWait(client: KubeClient, namespace: string): Promise<void> {
  const { items } = await client.list(DEFINITIONS, { namespace });
  await Promise.all(
    items.map((definition) =>
      client
        .delete(DEFINITIONS, { namespace, name: definition.metadata.name ?? "" })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        }),
    ),
  );
  const deadline = Date.now() + 120_000;
  // The finalizers make this wait for the agent to remove every container.
  while ((await client.list(DEFINITIONS, { namespace })).items.length > 0) {
    if (Date.now() > deadline) throw new Error("Definitions were not removed within 120 s");
    await sleep(100);
  }
}

// ---------------------------------------------------------------- report

interface Row {
  name: string;
  summary: Summary;
}

function printTable(title: string, rows: Row[], floor: Summary): void {
  const ms = (value: number): string => `${value.toFixed(0).padStart(6)} ms`;
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2).padStart(6)}x`;
  console.log(`\n${title}`);
  console.log(`  ${"".padEnd(30)}   median        p99    n   median/floor  p99/floor`);
  for (const row of rows) {
    const s = row.summary;
    console.log(
      `  ${row.name.padEnd(30)}${ms(s.median)}  ${ms(s.p99)} ${String(s.count).padStart(4)}   ${ratio(s.median, floor.median)}     ${ratio(s.p99, floor.p99)}`,
    );
  }
}

function summaries(samples: BaselineSample[]): { started: Summary; answers: Summary } {
  return {
    started: summarize(samples.map((s) => s.started)),
    answers: summarize(samples.map((s) => s.answers)),
  };
}

function printMode(
  title: string,
  baselines: Array<{ baseline: Baseline; samples: BaselineSample[] }>,
  berth: number[],
  recorder: StageRecorder,
  cost: string,
): void {
  const floorSamples = baselines.find((b) => b.baseline.name === "engine API")!.samples;
  const floor = summaries(floorSamples).answers;
  const rows: Row[] = [];
  for (const { baseline, samples } of baselines) {
    const s = summaries(samples);
    rows.push({ name: `${baseline.name}: running`, summary: s.started });
    rows.push({ name: `${baseline.name}: answers`, summary: s.answers });
  }
  const berthSummary = summarize(berth);
  rows.push({ name: "berth apply: answers", summary: berthSummary });
  printTable(`${title} (${load()}); ratios against the engine API's answers (the floor)`, rows, floor);
  const cli = summaries(baselines.find((b) => b.baseline.name === "docker run")!.samples).answers;
  console.log(
    `  berth / docker run: median ${(berthSummary.median / cli.median).toFixed(2)}x, p99 ${(berthSummary.p99 / cli.p99).toFixed(2)}x`,
  );
  console.log(`  ${engineSideBySide(floorSamples, recorder)}`);
  console.log(`  ${cost}`);
  console.log(`\n  where Berth's time goes (${title}):`);
  printBreakdown(recorder, berthSummary.mean);
}

/**
 * The engine's create and start of the floor's containers next to those of Berth's, in the
 * same run: whether the engine itself is slower at Berth's container, apart from Berth's
 * own stages around it.
 */
function engineSideBySide(floorSamples: BaselineSample[], recorder: StageRecorder): string {
  const segments = recorder.segments();
  const both = (floor: number[], berth: number[]): string => {
    const f = summarize(floor);
    const b = summarize(berth);
    return `floor ${f.median.toFixed(0)} (${f.mean.toFixed(0)}), Berth's ${b.median.toFixed(0)} (${b.mean.toFixed(0)})`;
  };
  const engine = floorSamples.flatMap((sample) => (sample.engine ? [sample.engine] : []));
  return `the engine's requests, median (mean) ms: create ${both(
    engine.map((e) => e.create),
    segments.get("container_created") ?? [],
  )}; start ${both(
    engine.map((e) => e.start),
    segments.get("container_started") ?? [],
  )}`;
}

// ---------------------------------------------------------------- modes

async function singleMode(bench: Bench, baselines: Baseline[]): Promise<void> {
  const samples = new Map(baselines.map((b) => [b, [] as BaselineSample[]]));
  const berth: number[] = [];
  const recorder = new StageRecorder(bench.namespace);
  let cpuMs = 0;
  let wallMs = 0;
  const passes = await reconcileCounts();
  const toAnswer = bench.roles.map(() => new Map<string, number>());
  const whole = bench.roles.map(() => new Map<string, number>());
  console.log(`\nsingle: ${TRIALS} sequential trials of one container each (${load()})`);
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const baseline of baselines) {
      const label = `berth-bench=${randomBytes(4).toString("hex")}`;
      try {
        samples.get(baseline)!.push(await baseline.once(label));
      } finally {
        await baseline.cleanup(label);
      }
    }
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const requestsBefore = bench.roles.map((role) => role.snapshot());
    berth.push(await berthOnce(bench, recorder, `single-${trial}`));
    const used = process.cpuUsage(cpu);
    cpuMs += (used.user + used.system) / 1000;
    wallMs += performance.now() - wall;
    bench.roles.forEach((role, i) => addRequests(toAnswer[i]!, role, requestsBefore[i]!));
    await deleteAndWait(bench.client, bench.namespace);
    bench.roles.forEach((role, i) => addRequests(whole[i]!, role, requestsBefore[i]!));
  }
  const perTrial = (counts: Map<string, number>[]): string =>
    bench.roles.map((role, i) => `    ${role.role}: ${perPurpose(counts[i]!, TRIALS)}`).join("\n");
  recorder.close();
  printMode(
    `single Definition, ${TRIALS} trials`,
    baselines.map((baseline) => ({ baseline, samples: samples.get(baseline)! })),
    berth,
    recorder,
    `this process during Berth's trials: CPU ${cpuMs.toFixed(0)} ms in ${wallMs.toFixed(0)} ms wall (${((100 * cpuMs) / wallMs).toFixed(0)}% of a core)\n  ${await reconcileDelta(passes)} (deletions included)\n  API requests per trial, apply to answer:\n${perTrial(toAnswer)}\n  API requests per trial, apply to deleted:\n${perTrial(whole)}`,
  );
}

/** Adds one role's API requests since `before` to `into`, by purpose. */
function addRequests(into: Map<string, number>, role: CountingKubeClient, before: Map<string, number>): void {
  for (const [purpose, count] of role.snapshot()) {
    const delta = count - (before.get(purpose) ?? 0);
    if (delta > 0) into.set(purpose, (into.get(purpose) ?? 0) + delta);
  }
}

/** Request counts by purpose, divided by `trials`, largest first. */
function perPurpose(counts: Map<string, number>, trials: number): string {
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((sum, [, count]) => sum + count, 0);
  const parts = sorted.map(([purpose, count]) => `${purpose} ${(count / trials).toFixed(2)}`).join(", ");
  return `${(total / trials).toFixed(2)} (${parts})`;
}

async function parallelMode(bench: Bench, baselines: Baseline[]): Promise<void> {
  const results: Array<{ baseline: Baseline; samples: BaselineSample[] }> = [];
  const cpuLines: string[] = [];
  console.log(`\nparallel: ${COUNT} at once (${load()})`);
  for (const baseline of baselines) {
    const label = `berth-bench=${randomBytes(4).toString("hex")}`;
    try {
      const cpu = cpuWindow();
      results.push({
        baseline,
        samples: await Promise.all(Array.from({ length: COUNT }, () => baseline.once(label))),
      });
      cpuLines.push(`${baseline.name}: ${cpu()}`);
    } finally {
      await baseline.cleanup(label);
    }
    await sleep(2000);
  }
  const recorder = new StageRecorder(bench.namespace);
  const passes = await reconcileCounts();
  const cost = processCost();
  const cpu = cpuWindow();
  const requestsBefore = bench.roles.map((role) => role.snapshot());
  const profile = await burstProfile();
  const burstStart = performance.now();
  const berth = await Promise.all(
    Array.from({ length: COUNT }, (_, index) => berthOnce(bench, recorder, `parallel-${index}`)),
  );
  await profile();
  cpuLines.push(`berth: ${cpu()}`);
  const requestLines = bench.roles.map((role, i) => requestsDuring(role, requestsBefore[i]!));
  const engineLines = bench.engineCalls.report(burstStart).map((line) => `    ${line}`);
  const costLine = [
    cost(),
    await reconcileDelta(passes),
    `the machine's CPU during each burst:\n${cpuLines.map((line) => `    ${line}`).join("\n")}`,
    `the agent's engine calls until the last answer:\n${engineLines.join("\n")}`,
    `API requests during the burst, by purpose:\n${requestLines.join("\n")}`,
  ].join("\n  ");
  recorder.close();
  await deleteAndWait(bench.client, bench.namespace);
  printMode(`${COUNT} Definitions at once`, results, berth, recorder, costLine);
}

/** One role's API requests since `before`, by purpose, with their total. */
function requestsDuring(role: CountingKubeClient, before: Map<string, number>): string {
  const counts = [...role.snapshot()]
    .map(([purpose, count]) => [purpose, count - (before.get(purpose) ?? 0)] as const)
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = counts.reduce((sum, [, count]) => sum + count, 0);
  const parts = counts.map(([purpose, count]) => `${purpose} ${count}`).join(", ");
  return `    ${role.role}: ${total} (${parts})`;
}

/**
 * BENCH_CPU_PROF=DIR: a CPU profile of this process (controller, agent and the bench's own
 * polling) over Berth's burst, written to DIR as berth-burst-<time>.cpuprofile.
 */
async function burstProfile(): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    await mkdir(dir, { recursive: true });
    const file = join(dir, `berth-burst-${Date.now()}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    console.log(`  CPU profile of the burst: ${file}`);
  };
}

async function main(): Promise<void> {
  const kc = loadKubeConfig();
  const client = newKubeClient(kc);
  const logger = createLogger({ level: "warn" });
  const suffix = randomBytes(3).toString("hex");
  const namespace = `berth-bench-${suffix}`;
  const nodeName = `bench-${suffix}`;
  const engineUrl = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  const baselines = [dockerRunBaseline(), engineApiBaseline(engineUrl)];

  console.log(`apply-to-ready: ${IMAGE}, one replica per Definition, mode ${MODE} (${load()})`);
  await client.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  const definitionWorkers = process.env.BENCH_DEFINITION_WORKERS;
  const roles = [new CountingKubeClient(client, "controller"), new CountingKubeClient(client, "agent")];
  const controller = startController(
    definitionWorkers ? { definitionWorkers: Number(definitionWorkers) } : {},
    { client: roles[0]!, logger },
  );
  const engineCalls = new EngineCallLog();
  const agent = await startAgent(
    {
      nodeName,
      url: engineUrl,
      address: "127.0.0.1",
      labels: {},
      ...(process.env.BENCH_AGENT_WORKERS ? { workers: Number(process.env.BENCH_AGENT_WORKERS) } : {}),
      ...(process.env.BENCH_MAX_PARALLEL_STARTS
        ? { startWork: positiveInt("BENCH_MAX_PARALLEL_STARTS", 6) }
        : {}),
    },
    {
      client: roles[1]!,
      logger,
      docker: new DockerEngine({ url: engineUrl, logger, observer: engineCalls }),
    },
  );
  const watched = watchAddresses({ client, namespace });
  const bench: Bench = {
    client,
    roles,
    engineCalls,
    namespace,
    addresses: watched.addresses,
    addressListeners: watched.addressListeners,
  };
  try {
    await controller.synced();
    await watched.informer.waitForSync();
    if (MODE !== "parallel") await singleMode(bench, baselines);
    if (MODE !== "single") await parallelMode(bench, baselines);
  } finally {
    await watched.informer.stop();
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
  console.log(`\ndone (${load()})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
