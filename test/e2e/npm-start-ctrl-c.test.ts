/**
 * Ctrl-C on `npm start`, as a terminal sends it: SIGINT to the whole foreground process
 * group (npm, the script and whatever it runs in the foreground), not to one process.
 * Everything `npm start` started must go within a few seconds, leaving no container of the
 * example, no Definition stuck in deletion and no process behind.
 *
 * Like readme-quickstart.test.ts, it reuses the suite's control plane (the same BERTH_STATE,
 * so `npm start` did not start it and leaves it up) and the default engine, with a Node name
 * and ports of its own.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { env, freePortRun, kubectl, run, waitFor } from "../harness/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** docker stop's grace (the agent's default) plus Berth's own shutdown, with a wide margin. */
const STOP_BOUND_MS = 30_000;

/** Processes (other than this test's) whose command line contains text. */
function processesWith(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

test(
  "Ctrl-C on npm start stops everything it started within seconds and leaves nothing behind",
  { timeout: 600_000 },
  async (t) => {
    const { kubeconfigPath } = env();
    const berthState = path.dirname(path.dirname(kubeconfigPath));
    const nodeName = `ctrl-c-${process.pid}`;
    const port = await freePortRun(2);
    const child = spawn("npm", ["start"], {
      cwd: ROOT,
      // A process group of its own, as a terminal gives a foreground job: its id is npm's pid.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        BERTH_STATE: berthState,
        BERTH_NODE_NAME: nodeName,
        BERTH_METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
        BERTH_REGISTRY_BIND_ADDRESS: `127.0.0.1:${port + 1}`,
      },
    });
    const pgid = child.pid!;
    const output: string[] = [];
    child.stdout.on("data", (d: Buffer) => output.push(d.toString()));
    child.stderr.on("data", (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    t.after(async () => {
      if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
      for (const found of processesWith(`--node-name ${nodeName} `)) {
        process.kill(Number(found.split(":")[0]), "SIGKILL");
      }
      await kubectl(["delete", "definition", "hello", "--ignore-not-found", "--wait=false"]);
      await kubectl(["delete", "bnode", nodeName, "--ignore-not-found", "--wait=false"]);
    });

    await waitFor(
      "npm start to print that Berth is running",
      () => {
        if (child.exitCode !== null)
          throw new Error(`npm start exited ${child.exitCode}:\n${output.join("")}`);
        return output.join("").includes("Berth is running");
      },
      { timeoutMs: 300_000, intervalMs: 250 },
    );
    const containers = async (): Promise<string[]> => {
      const listed = await run("docker", ["ps", "-a", "-q", "--filter", `label=${LABELS.node}=${nodeName}`]);
      assert.equal(listed.code, 0, listed.stderr);
      return listed.stdout.split("\n").filter(Boolean);
    };
    assert.equal((await containers()).length, 2, "the example runs two containers");
    assert.notDeepEqual(processesWith(`--node-name ${nodeName} `), [], "Berth runs");

    const stoppingAt = Date.now();
    process.kill(-pgid, "SIGINT");
    await Promise.race([exited, sleep(STOP_BOUND_MS * 4)]);
    await waitFor("every process of npm start's group to end", () => !groupAlive(pgid), {
      timeoutMs: STOP_BOUND_MS * 4,
    });
    const stopMs = Date.now() - stoppingAt;
    t.diagnostic(`npm start stopped ${stopMs} ms after Ctrl-C`);

    assert.deepEqual(processesWith(`--node-name ${nodeName} `), [], "Berth has stopped");
    assert.deepEqual(await containers(), [], "no container of the example is left on the engine");
    const left = await kubectl(["get", "definition", "hello", "--ignore-not-found", "-o", "name"]);
    assert.equal(left.stdout.trim(), "", "the example Definition is gone, not stuck in deletion");
    assert.ok(stopMs < STOP_BOUND_MS, `stopped in ${stopMs} ms:\n${output.join("")}`);
    assert.match(output.join(""), /stopping/, "the script said it was stopping");
  },
);
