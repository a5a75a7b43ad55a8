/**
 * The test harness for integration and end-to-end tests. They talk to real parts only:
 * the kube-apiserver and Docker engine that hack/with-env.sh brings up (or the cluster
 * KUBECONFIG points at). A missing part fails the test with a message saying how to run
 * it; nothing is skipped silently.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestContext } from "node:test";
import * as k8s from "@kubernetes/client-node";

// Test repositories are made under one directory, and the tests' controllers and agents
// allow file:// repositories there (and nowhere else).
export {
  TEST_FILE_REPOSITORIES,
  TEST_REPOSITORIES_DIR,
  testRepositoryScratch,
} from "../../controller/src/testing/git-fixture.js";

export interface Env {
  kubeconfigPath: string;
  dockerHost: string;
  kc: k8s.KubeConfig;
}

let cached: Env | undefined;

/** The real parts, or a failure that says how to bring them up. */
export function env(): Env {
  if (cached) return cached;
  const kubeconfigPath = process.env.KUBECONFIG;
  const dockerHost = process.env.DOCKER_HOST;
  if (!kubeconfigPath || !dockerHost || process.env.BERTH_ENV_READY !== "1") {
    throw new Error(
      "integration tests need the real API server and Docker engine: run them through " +
        "`bash hack/with-env.sh ...` (npm run test:integration does)",
    );
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  cached = { kubeconfigPath, dockerHost, kc };
  return cached;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs) and returns its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** kubectl against the test cluster. */
export function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}) {
  env();
  return run("kubectl", args, opts);
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(args: string[], opts: { input?: string; timeoutMs?: number } = {}) {
  const res = await kubectl(args, opts);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}

/**
 * A fresh namespace for one test, deleted when the test ends. Deletion is not awaited to
 * the end: the namespace controller finishes it in the background.
 */
export async function testNamespace(t: TestContext, prefix = "berth-test"): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await kubectlOk(["create", "namespace", name]);
  t.after(async () => {
    if (process.env.BERTH_KEEP_NAMESPACES === "1") return;
    await kubectl(["delete", "namespace", name, "--wait=false"]);
  });
  return name;
}

/** Polls until fn returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(
  description: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `; last error: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${why}`);
    }
    await sleep(intervalMs);
  }
}

/** Test image names built by hack/images/build.sh. */
export const images = {
  echo: "berth-test/echo:1",
  exit: "berth-test/exit:1",
  unhealthy: "berth-test/unhealthy:1",
  openapi: "berth-test/openapi:1",
} as const;

/** HTTP GET with a short timeout; resolves to status and body, or undefined when nothing answers. */
export async function httpGet(
  url: string,
  timeoutMs = 2000,
): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** Starts a long-running child process whose output goes to the test log; killed after the test. */
export function spawnForTest(t: TestContext, cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout.on("data", (d: Buffer) => output.push(d.toString()));
  child.stderr.on("data", (d: Buffer) => output.push(d.toString()));
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return { child, output: () => output.join("") };
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * The first of `count` consecutive loopback ports that are all free right now, from a range
 * kept clear of the local control planes' defaults (46443 and 47443 with the two after each).
 */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 52000 + Math.floor(Math.random() * 6000);
    const ports = Array.from({ length: count }, (_, i) => first + i);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return first;
  }
  throw new Error(`no run of ${count} free loopback ports found`);
}

/** Runs hack/engines.sh (extra engines standing in for more machines); returns its output. */
export async function engines(...args: string[]): Promise<string> {
  const result = await run("bash", ["hack/engines.sh", ...args], { timeoutMs: 120_000 });
  if (result.code !== 0) throw new Error(`hack/engines.sh ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

export interface ExtraEngine {
  number: number;
  /** unix:// URL of its socket. */
  url: string;
  /** The loopback address it publishes ports on: 127.0.0.<number>. */
  address: string;
}

/**
 * Starts extra Docker engine N, with the test images loaded unless told otherwise. The
 * caller stops it (stopExtraEngine) after whatever runs containers on it has stopped.
 */
export async function startExtraEngine(
  number: number,
  opts: { loadImages?: boolean } = {},
): Promise<ExtraEngine> {
  const socket = (await engines("start", String(number))).split("\n").pop() ?? "";
  if (opts.loadImages !== false) {
    try {
      await engines("load-images", String(number));
    } catch (err) {
      await engines("stop", String(number)).catch(() => undefined);
      throw err;
    }
  }
  return {
    number,
    url: socket.startsWith("unix://") ? socket : `unix://${socket}`,
    address: `127.0.0.${number}`,
  };
}

/** Stops extra engine N and removes its containers. */
export async function stopExtraEngine(number: number): Promise<void> {
  await engines("stop", String(number));
}
