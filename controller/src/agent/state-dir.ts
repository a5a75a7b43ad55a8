/**
 * The agent's state directory holds its identity (which it writes into its Node's Lease),
 * its lock, the record of images pulled with credentials, repository mirrors and build
 * logs. Whoever can write there can impersonate the agent or plant code in a build, so the
 * directory must be the agent's own: a fixed name in a shared place such as /tmp could be
 * made first by another local user. The default is a private place under a system or user
 * location, and every state directory, given or default, is checked before use.
 */
import { accessSync, constants, lstatSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Where a machine-wide agent keeps its state (as a service's StateDirectory would). */
export const SYSTEM_STATE_ROOT = "/var/lib/berth";

export class StateDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateDirError";
  }
}

export interface StateDirEnvironment {
  /** The system location; SYSTEM_STATE_ROOT unless a test says otherwise. */
  systemRoot?: string;
  env?: NodeJS.ProcessEnv;
  homedir?: () => string;
}

/** Whether the agent could create or use the system location. */
function writableRoot(root: string): boolean {
  // An existing root must be writable; a missing one, creatable in its parent.
  for (let dir = root; ; dir = path.dirname(dir)) {
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || path.dirname(dir) === dir) return false;
    }
  }
}

/**
 * The default state directory for a node: <system root>/agent-<node> where this user may
 * write there (root, or a service user given that directory), else under
 * $XDG_STATE_HOME (an absolute path) or ~/.local/state: berth/agent-<node>.
 */
export function defaultStateDir(nodeName: string, where: StateDirEnvironment = {}): string {
  const leaf = `agent-${nodeName}`;
  const systemRoot = where.systemRoot ?? SYSTEM_STATE_ROOT;
  if (writableRoot(systemRoot)) return path.join(systemRoot, leaf);
  const env = where.env ?? process.env;
  const xdg = env.XDG_STATE_HOME;
  const base =
    xdg && path.isAbsolute(xdg) ? xdg : path.join((where.homedir ?? os.homedir)(), ".local", "state");
  return path.join(base, "berth", leaf);
}

/**
 * Creates the state directory (mode 0700) when missing and refuses one that is not this
 * user's own: a link, not a directory, owned by another user, or writable by group or
 * others. The error names the directory, what is wrong and what to do.
 */
export function ensurePrivateStateDir(dir: string, uid = process.getuid?.()): void {
  if (!path.isAbsolute(dir)) {
    throw new StateDirError(`--state-dir ${JSON.stringify(dir)} must be an absolute path`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    // Something else is there already: said below, by what it is.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink() || !stat.isDirectory()) {
    throw new StateDirError(
      `--state-dir ${dir} is ${stat.isSymbolicLink() ? "a symbolic link" : "not a directory"}: ` +
        "the agent keeps its identity and lock there and uses only a directory of its own; " +
        "remove it, or choose another --state-dir",
    );
  }
  if (uid !== undefined && stat.uid !== uid) {
    throw new StateDirError(
      `--state-dir ${dir} is owned by uid ${stat.uid}, not by this agent's user (uid ${uid}): ` +
        "another user could have made it to read or replace the agent's identity; " +
        "remove it, or choose another --state-dir",
    );
  }
  if ((stat.mode & 0o022) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
    throw new StateDirError(
      `--state-dir ${dir} is writable by group or others (mode ${mode}): ` +
        `anyone with that access could replace the agent's identity; run chmod 700 ${dir}`,
    );
  }
}
