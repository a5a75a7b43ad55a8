import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveRepositoryCommit } from "./git.js";

test("a git call whose signal fires is killed at once and rejects with the signal's reason", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-git-cancel-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // A git that never answers, as a server that accepts and says nothing makes git.
  const hangingGit = join(dir, "git");
  await writeFile(hangingGit, "#!/bin/sh\nexec sleep 300\n");
  await chmod(hangingGit, 0o755);
  const controller = new AbortController();
  const cancelled = new Error("the Instance was deleted");
  const started = Date.now();
  setTimeout(() => controller.abort(cancelled), 100);
  await assert.rejects(
    resolveRepositoryCommit(
      { url: "https://git.example/team/web.git", ref: "main" },
      { gitBinary: hangingGit, queryTimeoutMs: 120_000, signal: controller.signal },
    ),
    (err: unknown) => err === cancelled,
  );
  // Far below the 120 s query timeout: the signal, not the timeout, ended it.
  assert.ok(Date.now() - started < 60_000, `ended after ${Date.now() - started} ms`);
  await assert.rejects(
    resolveRepositoryCommit(
      { url: "https://git.example/team/web.git", ref: "main" },
      { gitBinary: hangingGit, signal: controller.signal },
    ),
    (err: unknown) => err === cancelled,
    "an already cancelled call runs no git",
  );
});
