/**
 * `berth agent` refuses a state directory that is not its own (another local user could
 * have made it first, to read or replace the agent's identity): it says which directory
 * and what is wrong, exits with status 2 at once, and registers nothing.
 */
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { NODES } from "../../controller/src/kube/resources.js";
import { getOrUndefined } from "../../controller/src/kube/errors.js";
import { env, run } from "../harness/index.js";
import { kube } from "./agent-fixtures.js";

async function agentWithStateDir(stateDir: string, nodeName: string) {
  return await run(
    process.execPath,
    [
      "--import",
      "tsx",
      "controller/src/cli/main.ts",
      "agent",
      `--node-name=${nodeName}`,
      `--url=${env().dockerHost}`,
      `--state-dir=${stateDir}`,
      "--metrics-bind-address=127.0.0.1:0",
    ],
    { timeoutMs: 60_000 },
  );
}

test("berth agent refuses a state directory others may write or another user owns, and exits 2", async (t) => {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-shared-state-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const nodeName = `state-dir-${randomBytes(4).toString("hex")}`;

  await chmod(stateDir, 0o777);
  const open = await agentWithStateDir(stateDir, nodeName);
  assert.equal(open.code, 2, open.stderr);
  assert.match(
    open.stderr,
    new RegExp(`--state-dir ${stateDir} is writable by group or others \\(mode 0777\\)`),
  );
  assert.match(open.stderr, /chmod 700/);

  await chmod(stateDir, 0o700);
  const uid = process.getuid?.();
  assert.equal(uid, 0, "the test makes the directory another user's, which needs root (CI runs as root)");
  await chown(stateDir, 65534, 65534);
  const foreign = await agentWithStateDir(stateDir, nodeName);
  assert.equal(foreign.code, 2, foreign.stderr);
  assert.match(foreign.stderr, new RegExp(`--state-dir ${stateDir} is owned by uid 65534`));

  assert.equal(
    await getOrUndefined(() => kube().get(NODES, { name: nodeName })),
    undefined,
    "no Node registered",
  );
});
