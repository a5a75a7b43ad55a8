/**
 * A/B of the Engine API floor: 20 containers at once, created and started straight through
 * dockerode, in variants that each change one thing toward what Berth's agent does:
 *
 * - body: the floor's create body, or the one Berth's agent sends (container-request.ts);
 * - traffic: none, or Berth's engine traffic around each container (a label-filtered list
 *   before create, an inspect after start, a list and an inspect per event-driven pass,
 *   and two open event streams);
 * - limit: creates and starts in flight at once (0: all at once);
 * - busy: a child process that keeps this share of one core busy during the round, as
 *   Berth's controller, API server and etcd do during its burst (0: none).
 *
 * VARIANTS (comma-separated name:body:traffic:limit:busy), ROUNDS (default 3), COUNT (default 20).
 * Rounds are interleaved across the variants so drift on a shared machine hits each alike.
 */
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import Docker from "dockerode";
import type { Instance } from "../../controller/src/api/types.js";
import { API_VERSION } from "../../controller/src/api/types.js";
import { buildContainerSpec } from "../../controller/src/agent/container-request.js";
import { toCreateOptions } from "../../controller/src/docker/conversions.js";
import { IMAGE, waitForAnswer } from "./engine-baselines.js";
import { summarize } from "./stage-breakdown.js";

const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const COUNT = Number(process.env.COUNT ?? 20);
const load = (): string =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(" ");

interface Variant {
  name: string;
  body: "floor" | "berth";
  traffic: boolean;
  limit: number;
  busy: number;
}

function parseVariants(text: string): Variant[] {
  return text.split(",").map((part) => {
    const [name, body, traffic, limit, busy] = part.split(":");
    return {
      name: name!,
      body: body as Variant["body"],
      traffic: traffic === "traffic",
      limit: Number(limit ?? 0),
      busy: Number(busy ?? 0),
    };
  });
}

const VARIANTS = parseVariants(
  process.env.VARIANTS ??
    "floor:floor:none:0,berth-body:berth:none:0,traffic:floor:traffic:0,both:berth:traffic:0",
);

function berthBody(run: string, index: number): Docker.ContainerCreateOptions {
  const instance: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name: `ab-${index}-x7k2p`, namespace: `ab-${run}`, generation: 1 },
    spec: {
      definition: `ab-${index}`,
      deploymentId: "d1",
      nodeName: "ab-node",
      template: { image: { name: IMAGE, port: 8080 } },
    },
  } as Instance;
  const spec = buildContainerSpec({
    instance,
    image: { name: IMAGE, port: 8080 },
    node: { nodeName: "ab-node", installation: `inst${run}`, address: "127.0.0.1", bindAddress: "127.0.0.1" },
    env: [],
    restarts: 0,
    stopTimeoutSeconds: 30,
  });
  spec.labels = { ...spec.labels, "berth-ab": run };
  return toCreateOptions(spec);
}

function floorBody(run: string): Docker.ContainerCreateOptions {
  return {
    Image: IMAGE,
    Labels: { "berth-ab": run },
    ExposedPorts: { "8080/tcp": {} },
    HostConfig: { Init: true, PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
  };
}

/** Runs fn with at most `limit` at once (0: no limit). */
function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  if (limit === 0) return (fn) => fn();
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await fn();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}

interface Sample {
  create: number;
  start: number;
  started: number;
  answers: number;
}

/** A child process busy `share` of each 10 ms (of one core) until killed. */
function burn(share: number): ChildProcess | undefined {
  if (share <= 0) return undefined;
  const script = `const w=new Int32Array(new SharedArrayBuffer(4));for(;;){const t=Date.now();while(Date.now()-t<${10 * share});Atomics.wait(w,0,0,${10 * (1 - share)});}`;
  return spawn(process.execPath, ["-e", script], { stdio: "ignore" });
}

async function round(variant: Variant): Promise<Sample[]> {
  const run = randomBytes(3).toString("hex");
  const burner = burn(variant.busy);
  const limited = limiter(variant.limit);
  const abort = new AbortController();
  const streams: NodeJS.ReadableStream[] = [];
  const traffic = async (index: number, id?: string): Promise<void> => {
    if (!variant.traffic) return;
    await docker.listContainers({
      all: true,
      filters: {
        label: [
          "berth.dev/managed-by=berth",
          "berth.dev/node=ab-node",
          `berth.dev/instance=ab-${index}-x7k2p`,
        ],
      },
    });
    if (id) await docker.getContainer(id).inspect();
  };
  if (variant.traffic) {
    const filterSets: Array<Record<string, string[]>> = [
      {
        type: ["container"],
        event: ["start", "die", "destroy", "oom"],
        label: ["berth.dev/managed-by=berth"],
      },
      { type: ["image"], event: ["delete", "pull", "tag", "untag", "import", "load"] },
    ];
    for (const filters of filterSets) {
      const stream = await (docker.getEvents as (o: object) => Promise<NodeJS.ReadableStream>).call(docker, {
        filters,
        abortSignal: abort.signal,
      });
      stream.on("error", () => undefined);
      streams.push(stream);
    }
    // The event-driven passes: each start event costs a list and an inspect.
    streams[0]!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        const event = JSON.parse(line) as { id: string; Actor: { Attributes: Record<string, string> } };
        const name = event.Actor.Attributes["berth.dev/instance"] ?? "";
        const index = Number(/^ab-(\d+)-/.exec(name)?.[1] ?? -1);
        if (index >= 0) void traffic(index, event.id).catch(() => undefined);
      }
    });
  }
  try {
    return await Promise.all(
      Array.from({ length: COUNT }, async (_, index) => {
        const t0 = performance.now();
        await traffic(index);
        const body = variant.body === "berth" ? berthBody(run, index) : floorBody(run);
        const { container, created, startMs } = await limited(async () => {
          const c0 = performance.now();
          const made = await docker.createContainer(body);
          const c1 = performance.now();
          await made.start();
          return { container: made, created: c1 - c0, startMs: performance.now() - c1 };
        });
        const started = performance.now() - t0;
        const info = await container.inspect();
        await traffic(index, container.id);
        const port = info.NetworkSettings.Ports["8080/tcp"]?.[0]?.HostPort;
        const answeredAt = await waitForAnswer(`http://127.0.0.1:${port}/`, container.id);
        // The pass after the first answer (the verdict change) looks again.
        await traffic(index, container.id);
        return { create: created, start: startMs, started, answers: answeredAt - t0 };
      }),
    );
  } finally {
    burner?.kill();
    abort.abort();
    for (const stream of streams) (stream as unknown as { destroy?: () => void }).destroy?.();
    const left = await docker.listContainers({ all: true, filters: { label: [`berth-ab=${run}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  }
}

async function main(): Promise<void> {
  console.log(`engine A/B: ${COUNT} at once, ${ROUNDS} rounds per variant (load ${load()})`);
  const results = new Map<string, Sample[]>(VARIANTS.map((v) => [v.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const variant of VARIANTS) {
      await sleep(2000);
      const samples = await round(variant);
      results.get(variant.name)!.push(...samples);
      const s = summarize(samples.map((x) => x.answers));
      console.log(
        `  round ${r} ${variant.name.padEnd(14)} answers median ${s.median.toFixed(0)} p99 ${s.p99.toFixed(0)} (load ${load()})`,
      );
    }
  }
  console.log(
    `\n${"variant".padEnd(16)} answers med/p99   started med/p99   create mean  start mean/med/p99`,
  );
  for (const variant of VARIANTS) {
    const samples = results.get(variant.name)!;
    const a = summarize(samples.map((x) => x.answers));
    const st = summarize(samples.map((x) => x.started));
    const c = summarize(samples.map((x) => x.create));
    const s = summarize(samples.map((x) => x.start));
    console.log(
      `${variant.name.padEnd(16)} ${a.median.toFixed(0).padStart(6)} ${a.p99.toFixed(0).padStart(6)}   ${st.median.toFixed(0).padStart(6)} ${st.p99.toFixed(0).padStart(6)}   ${c.mean.toFixed(0).padStart(8)}   ${s.mean.toFixed(0).padStart(6)} ${s.median.toFixed(0).padStart(6)} ${s.p99.toFixed(0).padStart(6)}`,
    );
  }
  console.log(`done (load ${load()})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
