import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { lockAgentState, stableAgentId } from "./identity.js";
import { NodeConflictError } from "./registration.js";

test("the agent id is stable for one machine, URL and Node, and differs when any of them does", () => {
  const id = stableAgentId("node-a", "unix:///var/run/docker.sock", "machine-1");
  assert.equal(id, stableAgentId("node-a", "unix:///var/run/docker.sock", "machine-1"));
  assert.notEqual(id, stableAgentId("node-b", "unix:///var/run/docker.sock", "machine-1"));
  assert.notEqual(id, stableAgentId("node-a", "tcp://10.0.0.1:2376", "machine-1"));
  assert.notEqual(id, stableAgentId("node-a", "unix:///var/run/docker.sock", "machine-2"));
  assert.match(id, /^[a-z0-9-]+-[0-9a-f]{12}$/);
});

test("a second live process is refused the lock; a dead holder's lock is taken over", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-lock-"));
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
  try {
    writeFileSync(path.join(dir, "agent.pid"), `${sleeper.pid}\n`);
    assert.throws(() => lockAgentState(dir), NodeConflictError);
  } finally {
    sleeper.kill("SIGKILL");
    await new Promise((resolve) => sleeper.once("exit", resolve));
  }
  const release = lockAgentState(dir);
  assert.equal(readFileSync(path.join(dir, "agent.pid"), "utf8").trim(), String(process.pid));
  assert.throws(() => lockAgentState(dir), NodeConflictError, "one agent per Node within a process too");
  release();
  const again = lockAgentState(dir, 4242_4242);
  again();
});
