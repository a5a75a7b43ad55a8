/**
 * The agent's identity on its Node's Lease. It is stable across restarts of the same agent
 * (same machine, engine URL and Node name), so an agent that crashed and came back reclaims
 * its Node at once instead of being refused until its old Lease expires. Two agent processes
 * on one machine for the same Node would share that identity, so a lock file in the agent's
 * state directory refuses the second one.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { NodeConflictError } from "./registration.js";

/** The machine's identity where systemd or D-Bus wrote one; the host name otherwise. */
export function readMachineId(): string {
  for (const file of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    try {
      const id = readFileSync(file, "utf8").trim();
      if (id) return id;
    } catch {
      // not there on this system: try the next source
    }
  }
  return os.hostname();
}

export function stableAgentId(nodeName: string, url: string, machineId: string = readMachineId()): string {
  const digest = createHash("sha256").update(`${machineId}\n${url}\n${nodeName}`).digest("hex");
  const host = os
    .hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .slice(0, 40);
  return `${host}-${digest.slice(0, 12)}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the agent lock in stateDir: refuses while a live process holds it (this one included:
 * one agent per Node in a process too), takes over a lock whose process is gone. Returns the
 * release function.
 */
export function lockAgentState(stateDir: string, pid: number = process.pid): () => void {
  mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, "agent.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${pid}\n`, { flag: "wx" });
      return () => {
        try {
          if (Number(readFileSync(file, "utf8").trim()) === pid) rmSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
        throw new NodeConflictError(
          `this Node is held by another live agent (pid ${holder}, state directory ${stateDir}): ` +
            "two agents must not share a Node. Stop the other agent, or give this one its own --node-name.",
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new NodeConflictError(`could not take the agent lock ${file}`);
}
