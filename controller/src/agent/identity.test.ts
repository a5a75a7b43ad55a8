import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { agentIdentity, lockAgentState, processStartTime } from "./identity.js";
import { NodeConflictError } from "./registration.js";

const tempDir = (): string => mkdtempSync(path.join(os.tmpdir(), "berth-agent-state-"));

test("the identity is kept in the state directory for one Node and URL", () => {
  const dir = tempDir();
  const id = agentIdentity(dir, "node-a", "unix:///var/run/docker.sock");
  assert.match(id, /^[a-z0-9-]+-[0-9a-f]{12}$/);
  assert.equal(agentIdentity(dir, "node-a", "unix:///var/run/docker.sock"), id, "a restart keeps it");
  assert.notEqual(agentIdentity(tempDir(), "node-a", "unix:///var/run/docker.sock"), id, "another state dir");
  const moved = agentIdentity(dir, "node-b", "unix:///var/run/docker.sock");
  assert.notEqual(moved, id, "the state directory now serves another Node");
});

test("a live holder is refused; a dead one, a reused pid and an earlier run with our pid are taken over", async () => {
  const dir = tempDir();
  const lock = path.join(dir, "agent.pid");
  const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
  const pid = sleeper.pid ?? 0;
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    writeFileSync(lock, JSON.stringify({ pid, start: processStartTime(pid), token: "other" }));
    assert.throws(() => lockAgentState(dir), NodeConflictError, "a live agent holds it");
    writeFileSync(lock, JSON.stringify({ pid, start: "1", token: "other" }));
    lockAgentState(dir)(); // the pid lives, but it is another process than the one that locked
  } finally {
    sleeper.kill("SIGKILL");
    await new Promise((resolve) => sleeper.once("exit", resolve));
  }
  writeFileSync(lock, JSON.stringify({ pid, token: "other" }));
  const release = lockAgentState(dir); // the holder is gone
  assert.equal(JSON.parse(readFileSync(lock, "utf8")).pid, process.pid);
  assert.throws(() => lockAgentState(dir), NodeConflictError, "one agent per Node within a process too");
  release();

  writeFileSync(lock, JSON.stringify({ pid: process.pid, token: "an-earlier-run" }));
  lockAgentState(dir)(); // PID 1 in a restarted container: same pid, earlier process
});
