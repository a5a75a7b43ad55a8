/**
 * End to end, as a newcomer would: `npm start` (hack/up.sh) brings Berth up on the local
 * default, then every command of the README's quick start block runs as written, in one
 * shell, against it. The README cannot promise a command that does not work.
 *
 * up.sh reuses the control plane the suite runs on (the same BERTH_STATE) and the default
 * Docker engine; it gets a Node name and metrics port of its own so nothing else collides.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { spawn } from "node:child_process";
import { env, freePortRun, httpGet, kubectl, run, waitFor } from "../harness/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The first ```sh block under "## Quick start", one command a line (comments kept). */
function quickStartCommands(readme: string): string[] {
  const section = readme.slice(readme.indexOf("## Quick start"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README.md has no ```sh block under ## Quick start");
  return block.split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
}

/** A child process whose output is kept; stopping it is the caller's business. */
function spawnWithOutput(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv) {
  const child = spawn(cmd, args, { env: { ...process.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  child.stdout.on("data", (d: Buffer) => output.push(d.toString()));
  child.stderr.on("data", (d: Buffer) => output.push(d.toString()));
  return { child, output: () => output.join("") };
}

/** The BERTH_STATE whose control plane KUBECONFIG points at (…/STATE/controlplane/kubeconfig). */
function stateDirOf(kubeconfigPath: string): string {
  const controlplane = path.dirname(kubeconfigPath);
  assert.equal(
    path.basename(controlplane),
    "controlplane",
    `${kubeconfigPath} is not a local control plane's`,
  );
  return path.dirname(controlplane);
}

test("npm start, then the README's quick start word for word", { timeout: 600_000 }, async (t) => {
  const { kubeconfigPath } = env();
  const berthState = stateDirOf(kubeconfigPath);
  const nodeName = `readme-${process.pid}`;
  const metricsPort = await freePortRun(2);
  const upEnv = {
    BERTH_STATE: berthState,
    BERTH_NODE_NAME: nodeName,
    BERTH_METRICS_BIND_ADDRESS: `127.0.0.1:${metricsPort}`,
    BERTH_REGISTRY_BIND_ADDRESS: `127.0.0.1:${metricsPort + 1}`,
  };
  // Not spawnForTest: its SIGKILL at the end would skip up.sh's own cleanup.
  const up = spawnWithOutput("bash", [path.join(ROOT, "hack/up.sh")], upEnv);
  const exited = new Promise<number | null>((resolve) => up.child.once("exit", (code) => resolve(code)));
  t.after(async () => {
    // up.sh runs Berth in a session of its own (so a terminal's Ctrl-C cannot reach it
    // first): when the test ends early, stop it the way a person would, then make sure.
    if (up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill("SIGINT");
      await Promise.race([exited, sleep(90_000)]);
    }
    if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill("SIGKILL");
    await run("pkill", ["-TERM", "-f", `--node-name ${nodeName} `]);
    await kubectl([
      "delete",
      "definition",
      "web",
      "hello",
      "--ignore-not-found",
      "--wait=true",
      "--timeout=60s",
    ]);
    await kubectl(["delete", "bnode", nodeName, "--ignore-not-found", "--wait=false"]);
  });
  await waitFor(
    "npm start to print that Berth is running",
    () => {
      if (up.child.exitCode !== null)
        throw new Error(`hack/up.sh exited ${up.child.exitCode}:\n${up.output()}`);
      return up.output().includes("Berth is running");
    },
    { timeoutMs: 300_000, intervalMs: 500 },
  );
  const printed = up.output();
  assert.match(
    printed,
    /eval "\$\(bash hack\/controlplane\.sh env\)"/,
    "the start message shows how to get kubectl",
  );
  const helloAnswer = /curl (http:\/\/\S+)/.exec(printed)?.[1];
  assert.ok(helloAnswer, `the start message names the example's address:\n${printed}`);
  assert.equal((await httpGet(helloAnswer))?.status, 200, `${helloAnswer} answers`);
  const lookupUrl = /curl (http:\/\/\S+\/v1\/namespaces\/default\/services\/hello)\s/.exec(printed)?.[1];
  assert.ok(lookupUrl, `the start message shows a registry lookup that works as printed:\n${printed}`);
  const lookup = await httpGet(lookupUrl);
  assert.equal(lookup?.status, 200, `${lookupUrl} answers: ${lookup?.body}`);
  // The example runs two replicas; npm start prints its message once both are ready.
  assert.equal((JSON.parse(lookup.body) as { instances: unknown[] }).instances.length, 2);
  const webUrl = /web UI:\s+(http:\/\/\S+\/)\s/.exec(printed)?.[1];
  assert.ok(webUrl, `the start message prints the web UI's URL:\n${printed}`);
  const web = await httpGet(webUrl);
  assert.equal(web?.status, 200, `${webUrl} answers`);
  assert.match(web.body, /<title>Berth registry<\/title>/);

  // The quick start, each command in one shell as a reader pastes it, with a marker after
  // each so the output of every command can be checked.
  const commands = quickStartCommands(readFileSync(path.join(ROOT, "README.md"), "utf8"));
  assert.ok(
    commands[0]?.startsWith("eval "),
    "the quick start begins by pointing kubectl at the control plane",
  );
  const script = [
    "set -euo pipefail",
    ...commands.flatMap((line, i) => [line, `printf "\\n@@ ${i}\\n"`]),
  ].join("\n");
  const shellEnv: NodeJS.ProcessEnv = { ...process.env, ...upEnv };
  delete shellEnv.KUBECONFIG;
  const result = await run("bash", ["-c", script], { timeoutMs: 300_000, env: shellEnv });
  assert.equal(result.code, 0, `the quick start failed:\n${result.stdout}\n${result.stderr}`);
  const outputs = result.stdout.split(/^@@ \d+$/m);
  assert.equal(outputs.length, commands.length + 1, "every command ran");
  const outputOf = (prefix: string): string => {
    const index = commands.findIndex((c) => c.startsWith(prefix));
    assert.ok(index >= 0, `the quick start has "${prefix}"`);
    return outputs[index] ?? "";
  };

  assert.match(outputOf("kubectl get definitions"), /\bweb\b[\s\S]*\b3\/3\b/, "web shows 3/3 ready");
  assert.match(
    outputOf("kubectl get instances"),
    new RegExp(`web-\\S+\\s+.*${nodeName}`),
    "Instances name the node",
  );
  const addresses = JSON.parse(outputOf("kubectl get definition web -o jsonpath").trim()) as string[];
  assert.equal(addresses.length, 3, `three ready addresses: ${addresses.join(", ")}`);
  assert.match(outputOf("kubectl get bnodes"), new RegExp(`^${nodeName}\\s`, "m"));
  assert.match(outputOf("kubectl get berth"), /definition\.berth\.dev\/web/);
  assert.match(outputOf("kubectl describe definition web"), /InstancesReady/);
  assert.equal(
    (await kubectl(["get", "definition", "web", "--ignore-not-found", "-o", "name"])).stdout.trim(),
    "",
    "the last command deleted web",
  );
  for (const address of addresses) {
    assert.equal(await httpGet(address, 1000), undefined, `${address} no longer answers once web is deleted`);
  }

  // Ctrl-C: the example goes, Berth stops, the shared control plane stays.
  up.child.kill("SIGINT");
  const code = await Promise.race([exited, sleep(120_000).then(() => "timeout" as const)]);
  assert.notEqual(code, "timeout", `hack/up.sh did not stop within 120 s of Ctrl-C:\n${up.output()}`);
  assert.equal(
    (await kubectl(["get", "definition", "hello", "--ignore-not-found", "-o", "name"])).stdout.trim(),
    "",
    "Ctrl-C removed the example",
  );
  assert.equal(
    (await kubectl(["get", "--raw", "/readyz"])).code,
    0,
    "a control plane npm start did not start stays up",
  );
});
