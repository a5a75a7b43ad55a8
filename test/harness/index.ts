/**
 * The test harness for integration and end-to-end tests. They talk to real parts only:
 * the kube-apiserver and Docker engine that hack/with-env.sh brings up (or the cluster
 * KUBECONFIG points at). A missing part fails the test with a message saying how to run
 * it; nothing is skipped silently.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
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

/** The berth CLI's entry point in the sources. */
export const BERTH_CLI = path.join(
  fileURLToPath(new URL("../..", import.meta.url)),
  "controller/src/cli/main.ts",
);

/** A `berth <role>` child process of a test. */
export interface BerthProcess {
  child: ChildProcess;
  output: () => string;
  /** SIGKILL, as a crash or an OOM kill would: no shutdown hook runs. Resolves once it has exited. */
  kill(): Promise<void>;
  /** SIGTERM, a graceful stop. Resolves once it has exited. */
  stop(): Promise<void>;
}

export interface BerthProcessOptions {
  /**
   * A command that runs the process in another context and then execs it, such as
   * `nsenter --net=...` (a test machine's network namespace); it must exec, not fork, so
   * that a signal to the child reaches Berth itself.
   */
  launcher?: string[];
}

/**
 * The one way tests run Berth as a process: `berth <role> ...args` from the sources, run by
 * node itself with tsx loaded (through npx or tsx's launcher a signal would reach a wrapper,
 * and the real process would outlive a SIGKILL as an orphan). The metrics server binds a
 * free port and logs go to the test's output at warn (debug with BERTH_TEST_LOG=1) unless
 * args say otherwise. Killed when the test ends if still running.
 */
export function startBerthProcess(
  t: TestContext,
  role: "agent" | "controller" | "registry" | "all",
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  options: BerthProcessOptions = {},
): BerthProcess {
  const defaults = [
    ...(args.some((arg) => arg.startsWith("--metrics-bind-address"))
      ? []
      : ["--metrics-bind-address=127.0.0.1:0"]),
    ...(args.some((arg) => arg.startsWith("--log-level"))
      ? []
      : [`--log-level=${process.env.BERTH_TEST_LOG === "1" ? "debug" : "warn"}`]),
  ];
  const command = [process.execPath, "--import", "tsx", BERTH_CLI, role, ...defaults, ...args];
  const [program, ...programArgs] = [...(options.launcher ?? []), ...command];
  const { child, output } = spawnForTest(t, program ?? process.execPath, programArgs, extraEnv);
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(name);
    await exited;
  };
  return { child, output, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
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
 * Extra engines are machine-wide (engine N owns 127.0.0.N and the bridge berthN), so the
 * harness hands their numbers out: a claim is a file named after the number, made
 * exclusively, holding the claiming process's id. A claim whose process is gone is stale
 * and taken over. Handed-out numbers come from 100..199; the numbers below stay for tests
 * that still name their own.
 */
const SLOT_DIR = path.join(os.tmpdir(), "berth-engine-slots");
const SLOT_RANGE = { first: 100, last: 199 } as const;
const claimedSlots = new Set<number>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Claims engine number N; false when a live process holds it. */
async function claimSlot(number: number): Promise<boolean> {
  await mkdir(SLOT_DIR, { recursive: true });
  const file = path.join(SLOT_DIR, String(number));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: "wx" });
      claimedSlots.add(number);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (owner === process.pid) throw new Error(`engine ${number} is already claimed by this test process`);
    if (owner > 0 && processAlive(owner)) return false;
    await rm(file, { force: true });
  }
  return false;
}

/** Gives engine number N back (after the engine stopped). */
export function releaseEngineSlot(number: number): void {
  if (!claimedSlots.delete(number)) return;
  rmSync(path.join(SLOT_DIR, String(number)), { force: true });
}

// A test process that ends without stopping its engines still gives their numbers back.
process.once("exit", () => {
  for (const number of [...claimedSlots]) releaseEngineSlot(number);
});

/**
 * A free extra-engine number for this test process (see SLOT_DIR above); give it back with
 * releaseEngineSlot, or stopExtraEngine does. For tests that drive hack/engines.sh themselves.
 */
export async function claimEngineSlot(): Promise<number> {
  for (let number = SLOT_RANGE.first; number <= SLOT_RANGE.last; number++) {
    if (claimedSlots.has(number)) continue;
    if (await claimSlot(number)) return number;
  }
  throw new Error(
    `no free extra-engine number in ${SLOT_RANGE.first}..${SLOT_RANGE.last} (claims in ${SLOT_DIR})`,
  );
}

export interface ExtraEngineOptions {
  /** Copy the test images into it (default true). */
  loadImages?: boolean;
}

/**
 * Starts an extra Docker engine, with the test images loaded unless told otherwise. Its
 * number is handed out by the harness (or, for older tests, the one given, which must not
 * be claimed by another live test process). The caller stops it (stopExtraEngine) after
 * whatever runs containers on it has stopped.
 */
export async function startExtraEngine(opts?: ExtraEngineOptions): Promise<ExtraEngine>;
export async function startExtraEngine(number: number, opts?: ExtraEngineOptions): Promise<ExtraEngine>;
export async function startExtraEngine(
  numberOrOpts?: number | ExtraEngineOptions,
  maybeOpts: ExtraEngineOptions = {},
): Promise<ExtraEngine> {
  let number: number;
  let opts = maybeOpts;
  if (typeof numberOrOpts === "number") {
    number = numberOrOpts;
    if (!claimedSlots.has(number) && !(await claimSlot(number))) {
      throw new Error(`extra engine ${number} is in use by another test process (${SLOT_DIR}/${number})`);
    }
  } else {
    number = await claimEngineSlot();
    opts = numberOrOpts ?? {};
  }
  try {
    const socket = (await engines("start", String(number))).split("\n").pop() ?? "";
    if (opts.loadImages !== false) await engines("load-images", String(number));
    return {
      number,
      url: socket.startsWith("unix://") ? socket : `unix://${socket}`,
      address: `127.0.0.${number}`,
    };
  } catch (err) {
    await engines("stop", String(number)).catch(() => undefined);
    releaseEngineSlot(number);
    throw err;
  }
}

/** Stops extra engine N, removes its containers and gives its number back. */
export async function stopExtraEngine(number: number): Promise<void> {
  try {
    await engines("stop", String(number));
  } finally {
    releaseEngineSlot(number);
  }
}
