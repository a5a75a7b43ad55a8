/**
 * The agent's identity on its Node's Lease, kept in its state directory: the same agent
 * restarted (after a crash, with the same --state-dir) reclaims its Node at once instead of
 * being refused until its old Lease expires, while an agent with another state directory
 * has another identity and is refused while this one lives. A lock file in the state
 * directory refuses a second process that shares it; the directory itself must be private
 * to the agent's user (state-dir.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { NodeConflictError } from "./registration.js";
import { ensurePrivateStateDir } from "./state-dir.js";

interface StoredIdentity {
  agentId: string;
  nodeName: string;
  url: string;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch {
    // missing or unreadable (a crash mid-write): treated as absent
    return undefined;
  }
}

/**
 * The identity stored in stateDir for this Node and engine URL, or a new one (host name and
 * a random suffix) stored there. Call it while holding the lock.
 */
export function agentIdentity(stateDir: string, nodeName: string, url: string): string {
  mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, "identity.json");
  const stored = readJson<StoredIdentity>(file);
  if (stored?.agentId && stored.nodeName === nodeName && stored.url === url) return stored.agentId;
  const host = os
    .hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 40);
  const agentId = `${host}-${randomBytes(6).toString("hex")}`;
  writeFileSync(file, JSON.stringify({ agentId, nodeName, url } satisfies StoredIdentity) + "\n");
  return agentId;
}

/** Distinguishes this process from an earlier one that had the same pid (PID 1 in a container). */
const PROCESS_TOKEN = randomBytes(8).toString("hex");

interface LockRecord {
  pid: number;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  start?: string;
  token: string;
}

/** Field 22 of /proc/<pid>/stat; undefined where /proc is not there. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from after its last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function holderAlive(record: LockRecord): boolean {
  // Our own pid: another agent in this process (same token), or an earlier process that had
  // this pid, such as the previous run of a container whose agent is PID 1.
  if (record.pid === process.pid) return record.token === PROCESS_TOKEN;
  if (!processAlive(record.pid)) return false;
  const start = processStartTime(record.pid);
  return record.start === undefined || start === undefined || start === record.start;
}

/**
 * Takes the agent lock in stateDir: refuses while a live process holds it (this one
 * included: one agent per Node in a process too), takes over a lock whose process is gone.
 * Returns the release function.
 */
export function lockAgentState(stateDir: string): () => void {
  ensurePrivateStateDir(stateDir);
  const file = path.join(stateDir, "agent.pid");
  const start = processStartTime(process.pid);
  const mine: LockRecord = { pid: process.pid, ...(start ? { start } : {}), token: PROCESS_TOKEN };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(mine) + "\n", { flag: "wx" });
      return () => {
        if (readJson<LockRecord>(file)?.token === PROCESS_TOKEN) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = readJson<LockRecord>(file);
      if (holder && Number.isInteger(holder.pid) && holderAlive(holder)) {
        throw new NodeConflictError(
          `this Node is held by another live agent (pid ${holder.pid}, state directory ${stateDir}): ` +
            "two agents must not share a Node. Stop the other agent, or give this one its own --node-name.",
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new NodeConflictError(`could not take the agent lock ${file}`);
}
