/**
 * npm run bench:registry: the registry API's lookup latency and throughput, how fast a
 * change reaches a parked blocking query, and what heartbeats cost in API writes.
 *
 * `berth registry` runs as a child process against the local control plane; this process
 * is the load generator, on loopback.
 *  1. Lookup: GET of one service (5 ready instances) at a fixed rate (BENCH_RATE, default
 *     1000/s) for BENCH_LOOKUP_SECONDS (default 10), anonymously and with a bearer token
 *     (whose TokenReview and SubjectAccessReview answers are cached); requests are sent on
 *     schedule whether or not earlier ones answered (an open loop), latency is from send to
 *     the last byte.
 *  2. Propagation: 50 times, a blocking query is parked, an Instance's status.ready is
 *     flipped with a status patch, and the time from sending the patch to the query's
 *     answer is taken.
 *  3. Heartbeats: 20 external instances with a 6 s TTL beat every 2 s (TTL/3, as the client
 *     library does) for BENCH_HEARTBEAT_SECONDS (default 60); the registry's own PATCH
 *     requests are counted from its rest_client_requests_total.
 *
 * A measurement, not a test: it prints numbers (and the targets beside them) and fails only
 * when something breaks. The namespace, Node and processes it creates are removed at the end.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { API_VERSION, type Instance } from "../../controller/src/api/types.js";
import { INSTANCES, NODES } from "../../controller/src/kube/resources.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { freePortRun, kubectlOk } from "../harness/index.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RATE = whole(process.env.BENCH_RATE, 1000, 100_000);
const LOOKUP_SECONDS = whole(process.env.BENCH_LOOKUP_SECONDS, 10, 600);
const HEARTBEAT_SECONDS = whole(process.env.BENCH_HEARTBEAT_SECONDS, 60, 600);
const CHANGES = 50;
const HEARTBEAT_INSTANCES = 20;
const HEARTBEAT_TTL = 6;

function whole(text: string | undefined, fallback: number, max: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new Error(`expected 1..${max}, got ${text}`);
  return value;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function get(url: string, token?: string): Promise<{ status: number; body: string; index: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { agent, headers: token ? { Authorization: `Bearer ${token}` } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            index: Number(res.headers["x-berth-index"] ?? 0),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
  });
}

function request(
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(payload
            ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Open-loop load: one GET every 1/rate s for `seconds`; latencies in ms of the 200s. */
async function load(url: string, seconds: number, token?: string) {
  const latencies: number[] = [];
  let failures = 0;
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  const total = RATE * seconds;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const sent = performance.now();
    pending.push(
      get(url, token).then(
        (res) => {
          if (res.status === 200) latencies.push(performance.now() - sent);
          else failures++;
        },
        () => {
          failures++;
        },
      ),
    );
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    sent: total,
    answered: latencies.length,
    failures,
    throughput: latencies.length / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? NaN,
  };
}

async function metric(
  metricsUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = (await get(`${metricsUrl}/metrics`)).body;
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      total += Number(line.split(" ").pop());
  }
  return total;
}

async function main(): Promise<void> {
  const kube = newKubeClient(loadKubeConfig());
  const suffix = randomBytes(3).toString("hex");
  const namespace = `bench-registry-${suffix}`;
  const nodeName = `bench-registry-${suffix}`;
  const [port] = [await freePortRun(2)];
  const registryUrl = `http://127.0.0.1:${port}`;
  const metricsUrl = `http://127.0.0.1:${port! + 1}`;
  await kubectlOk(["create", "namespace", namespace]);
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(ROOT, "controller/src/cli/main.ts"),
      "registry",
      `--registry-bind-address=127.0.0.1:${port}`,
      `--metrics-bind-address=127.0.0.1:${port! + 1}`,
      "--registry-allow-anonymous-loopback",
      "--log-level=warn",
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  try {
    // A ServiceAccount that may read and register in the namespace.
    await kubectlOk(["create", "serviceaccount", "bench", "-n", namespace]);
    await kubectlOk([
      "create",
      "role",
      "bench",
      "-n",
      namespace,
      "--verb=get,list",
      "--resource=definitions.berth.dev",
    ]);
    await kubectlOk([
      "create",
      "role",
      "bench-write",
      "-n",
      namespace,
      "--verb=create,update,delete",
      "--resource=instances.berth.dev",
    ]);
    await kubectlOk([
      "create",
      "rolebinding",
      "bench",
      "-n",
      namespace,
      "--role=bench",
      `--serviceaccount=${namespace}:bench`,
    ]);
    await kubectlOk([
      "create",
      "rolebinding",
      "bench-write",
      "-n",
      namespace,
      "--role=bench-write",
      `--serviceaccount=${namespace}:bench`,
    ]);
    const token = (await kubectlOk(["create", "token", "bench", "-n", namespace])).trim();

    for (let i = 0; i < 5; i++) {
      const instance: Instance = {
        apiVersion: API_VERSION,
        kind: "Instance",
        metadata: { name: `lookup-${i}`, namespace },
        spec: { definition: "lookup", external: { url: `http://192.0.2.${i + 1}:8080` } },
      };
      await kube.create(INSTANCES, instance);
    }
    const lookupUrl = `${registryUrl}/v1/namespaces/${namespace}/services/lookup`;
    for (;;) {
      const res = await get(lookupUrl).catch(() => undefined);
      if (res?.status === 200 && (JSON.parse(res.body) as { instances: unknown[] }).instances.length === 5)
        break;
      await sleep(200);
    }

    // 1. Lookup.
    await load(lookupUrl, 2); // warm-up
    // The registry's own CPU time per answered request: what the machine's load cannot blur.
    const measured = async (token?: string) => {
      const cpuBefore = await metric(metricsUrl, "process_cpu_seconds_total");
      const result = await load(lookupUrl, LOOKUP_SECONDS, token);
      const cpu = (await metric(metricsUrl, "process_cpu_seconds_total")) - cpuBefore;
      return { ...result, cpuMsPerRequest: (cpu * 1000) / Math.max(1, result.answered) };
    };
    const anonymous = await measured();
    const authenticated = await measured(token);
    const line = (name: string, r: Awaited<ReturnType<typeof measured>>) =>
      `  ${name.padEnd(14)} ${r.answered}/${r.sent} answered (${r.failures} failed), ${r.throughput.toFixed(0)}/s, ` +
      `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms ` +
      `(target p99 < 5 ms: ${r.p99 < 5 ? "met" : "missed"}, ${(r.p99 / 5).toFixed(2)}x); ` +
      `registry CPU ${r.cpuMsPerRequest.toFixed(3)} ms per request`;
    console.log(
      `\nLookup at ${RATE}/s for ${LOOKUP_SECONDS} s each, one service of 5 instances ` +
        `(load average ${os
          .loadavg()
          .map((l) => l.toFixed(1))
          .join(" ")} on ${os.cpus().length} CPUs):`,
    );
    console.log(line("anonymous", anonymous));
    console.log(line("bearer token", authenticated));

    // 2. Propagation: an Instance's status turning ready (or not) to a parked query's answer.
    await kube.create(NODES, {
      apiVersion: API_VERSION,
      kind: "Node",
      metadata: { name: nodeName },
      spec: { url: `tcp://${nodeName}.invalid:2375`, address: "192.0.2.100" },
    });
    const stamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    await kube.patchStatus(
      NODES,
      { name: nodeName },
      {
        status: {
          ready: "True",
          conditions: [
            { type: "Ready", status: "True", reason: "Bench", message: "", lastTransitionTime: stamp },
          ],
        },
      },
    );
    await kube.create(INSTANCES, {
      apiVersion: API_VERSION,
      kind: "Instance",
      metadata: { name: "flip-0", namespace },
      spec: {
        definition: "flip",
        deploymentId: "0123456789abcdef",
        nodeName,
        template: { image: { name: "x:1", port: 80 } },
      },
    });
    const flipUrl = `${registryUrl}/v1/namespaces/${namespace}/services/flip`;
    const propagation: number[] = [];
    let index = 0;
    for (;;) {
      const res = await get(flipUrl);
      if (res.status === 200) {
        index = res.index;
        break;
      }
      await sleep(100);
    }
    for (let i = 0; i < CHANGES; i++) {
      const ready = i % 2 === 0;
      const parked = get(`${flipUrl}?index=${index}&wait=30s`);
      await sleep(20);
      const sent = performance.now();
      await kube.patchStatus(
        INSTANCES,
        { namespace, name: "flip-0" },
        {
          status: { ready, address: { url: "http://192.0.2.100:30000", host: "192.0.2.100", port: 30000 } },
        },
      );
      const answer = await parked;
      propagation.push(performance.now() - sent);
      index = answer.index;
    }
    propagation.sort((a, b) => a - b);
    const p99 = quantile(propagation, 0.99);
    console.log(`\nPropagation, status patch sent -> parked blocking query answered, ${CHANGES} changes:`);
    console.log(
      `  median ${quantile(propagation, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${propagation.at(-1)!.toFixed(1)} ms ` +
        `(target p99 < 250 ms: ${p99 < 250 ? "met" : "missed"}, ${(p99 / 250).toFixed(2)}x)`,
    );

    // 3. Heartbeats.
    const registerUrl = `${registryUrl}/v1/namespaces/${namespace}/services/beats/instances`;
    const names: string[] = [];
    for (let i = 0; i < HEARTBEAT_INSTANCES; i++) {
      const res = await request("POST", registerUrl, token, {
        url: `http://192.0.2.${i + 1}:9000`,
        ttlSeconds: HEARTBEAT_TTL,
      });
      if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${res.body}`);
      names.push((JSON.parse(res.body) as { name: string }).name);
    }
    await sleep(1000);
    const patchesBefore = await metric(metricsUrl, "rest_client_requests_total", { method: "PATCH" });
    const beatsBefore = await metric(metricsUrl, "berth_registry_heartbeats_total");
    const started = performance.now();
    const period = (HEARTBEAT_TTL * 1000) / 3;
    while (performance.now() - started < HEARTBEAT_SECONDS * 1000) {
      const round = performance.now();
      const answers = await Promise.all(
        names.map((name) => request("PUT", `${registerUrl}/${name}/heartbeat`, token)),
      );
      const failed = answers.filter((a) => a.status !== 200);
      if (failed.length > 0) throw new Error(`heartbeat failed: ${failed[0]!.status} ${failed[0]!.body}`);
      await sleep(Math.max(0, period - (performance.now() - round)));
    }
    const minutes = (performance.now() - started) / 60_000;
    const patches =
      (await metric(metricsUrl, "rest_client_requests_total", { method: "PATCH" })) - patchesBefore;
    const beats = (await metric(metricsUrl, "berth_registry_heartbeats_total")) - beatsBefore;
    const stillReady = (
      JSON.parse((await get(`${registryUrl}/v1/namespaces/${namespace}/services/beats`)).body) as {
        instances: unknown[];
      }
    ).instances.length;
    const perInstanceMinute = patches / HEARTBEAT_INSTANCES / minutes;
    const beatsPerInstanceMinute = beats / HEARTBEAT_INSTANCES / minutes;
    console.log(
      `\nHeartbeats, ${HEARTBEAT_INSTANCES} instances, TTL ${HEARTBEAT_TTL} s, a beat every ${period / 1000} s, ${minutes.toFixed(2)} min:`,
    );
    console.log(
      `  ${beatsPerInstanceMinute.toFixed(1)} beats and ${perInstanceMinute.toFixed(2)} API writes per instance per minute ` +
        `(${(patches / beats).toFixed(2)} writes per beat); ${stillReady}/${HEARTBEAT_INSTANCES} ready throughout the end`,
    );
  } finally {
    child.kill("SIGTERM");
    await kubectlOk(["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
    await kube.delete(NODES, { name: nodeName }).catch(() => undefined);
    agent.destroy();
  }
}

await main();
