import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { lockAgentState } from "./identity.js";
import { StateDirError, defaultStateDir, ensurePrivateStateDir } from "./state-dir.js";
import { agentOptionsFromFlags } from "./options.js";
import { agentFlags } from "./flags.js";
import { parseFlags } from "../runtime/flags.js";

const scratch = (): string => mkdtempSync(path.join(os.tmpdir(), "berth-state-dir-test-"));
const isRoot = process.getuid?.() === 0;

test("the default state directory is under the system location when the agent may write there", () => {
  const root = path.join(scratch(), "var-lib-berth");
  assert.equal(defaultStateDir("node-a", { systemRoot: root }), path.join(root, "agent-node-a"));
});

test("otherwise it is under XDG_STATE_HOME or ~/.local/state, never in a shared temporary directory", () => {
  // A system location nobody may create: its parent is a file.
  const blocked = path.join(scratch(), "file");
  writeFileSync(blocked, "");
  const systemRoot = path.join(blocked, "berth");
  assert.equal(
    defaultStateDir("node-a", { systemRoot, env: { XDG_STATE_HOME: "/home/u/.state" } }),
    "/home/u/.state/berth/agent-node-a",
  );
  assert.equal(
    defaultStateDir("node-a", { systemRoot, env: { XDG_STATE_HOME: "relative" }, homedir: () => "/home/u" }),
    "/home/u/.local/state/berth/agent-node-a",
    "a relative XDG_STATE_HOME is ignored, as the XDG spec says",
  );
  assert.equal(
    defaultStateDir("node-a", { systemRoot, env: {}, homedir: () => "/home/u" }),
    "/home/u/.local/state/berth/agent-node-a",
  );
});

test("the agent's flags no longer default to a predictable directory in the temporary directory", () => {
  const values = parseFlags(
    agentFlags,
    ["--node-name=node-a", "--url=unix:///var/run/docker.sock"],
    {},
  ).values;
  const options = agentOptionsFromFlags(values as never, {});
  assert.ok(!options.stateDir.startsWith(os.tmpdir()), options.stateDir);
  assert.match(options.stateDir, /[/]berth[/]agent-node-a$/);
});

test("a missing state directory is created private (0700), parents included", () => {
  const dir = path.join(scratch(), "a", "b", "state");
  ensurePrivateStateDir(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  ensurePrivateStateDir(dir); // and accepted as it is the next time
});

test("a state directory writable by group or others is refused, naming the fix", () => {
  const dir = scratch();
  chmodSync(dir, 0o777);
  assert.throws(
    () => ensurePrivateStateDir(dir),
    (err: unknown) =>
      err instanceof StateDirError &&
      err.message.includes(`--state-dir ${dir} is writable by group or others (mode 0777)`) &&
      err.message.includes(`chmod 700 ${dir}`),
  );
  chmodSync(dir, 0o770);
  assert.throws(() => ensurePrivateStateDir(dir), StateDirError);
  chmodSync(dir, 0o755);
  ensurePrivateStateDir(dir); // readable by others is a choice, not a hole
});

test("a state directory owned by another user is refused before the lock is taken", () => {
  const dir = scratch();
  const owner = statSync(dir).uid;
  // As root the directory is made another user's; otherwise the check is asked as another uid.
  if (isRoot) chownSync(dir, 65534, 65534);
  const uid = isRoot ? 0 : owner + 1;
  assert.throws(
    () => ensurePrivateStateDir(dir, uid),
    (err: unknown) =>
      err instanceof StateDirError &&
      err.message.includes(`--state-dir ${dir} is owned by uid ${isRoot ? 65534 : owner}`) &&
      err.message.includes(`(uid ${uid})`),
  );
  if (isRoot) {
    assert.throws(() => lockAgentState(dir), StateDirError, "the agent never writes its lock there");
  }
});

test("a state directory that is a link, or not a directory, is refused", () => {
  const base = scratch();
  const target = path.join(base, "elsewhere");
  mkdirSync(target, { mode: 0o700 });
  const link = path.join(base, "state");
  symlinkSync(target, link);
  assert.throws(() => ensurePrivateStateDir(link), /is a symbolic link/);
  const file = path.join(base, "file");
  writeFileSync(file, "");
  assert.throws(() => ensurePrivateStateDir(file), /is not a directory/);
  assert.throws(() => ensurePrivateStateDir("relative/state"), /must be an absolute path/);
});
