import { test } from "node:test";
import assert from "node:assert/strict";
import { GitCommandError, abortReason, gitEnvironment, gitReason, runGit } from "./git-command.js";

// runGit runs any program the way it runs git; node stands in for git here.
const node = process.execPath;

test("git never prompts, may use only https, ssh and file transports, and speaks C", () => {
  const env = gitEnvironment();
  assert.equal(env.GIT_TERMINAL_PROMPT, "0");
  assert.equal(env.GIT_ALLOW_PROTOCOL, "https:ssh:file");
  assert.equal(env.LC_ALL, "C");
  assert.match(env.GIT_SSH_COMMAND ?? "", /BatchMode=yes/);
});

test("a command's output comes back; its arguments reach it as they are, without a shell", async () => {
  const result = await runGit(["-e", "process.stdout.write(process.argv[1])", "$(echo hi); rm -rf /"], {
    gitBinary: node,
    timeoutMs: 30_000,
  });
  assert.equal(result.stdout, "$(echo hi); rm -rf /");
});

test("a command that fails gives its exit code and what it printed to stderr", async () => {
  await assert.rejects(
    runGit(["-e", "process.stderr.write('fatal: no such ref\\n'); process.exit(128)"], {
      gitBinary: node,
      timeoutMs: 30_000,
    }),
    (err: unknown) =>
      err instanceof GitCommandError && err.exitCode === 128 && err.stderr.includes("fatal: no such ref"),
  );
});

test("a program that cannot run is not the repository's fault: a plain error, not a git failure", async () => {
  await assert.rejects(
    runGit(["--version"], { gitBinary: "/nonexistent/berth-git", timeoutMs: 30_000 }),
    (err: unknown) =>
      !(err instanceof GitCommandError) && /running \/nonexistent\/berth-git failed/.test(String(err)),
  );
});

test("a command past its time limit is killed and says it timed out", async () => {
  await assert.rejects(
    runGit(["-e", "setTimeout(() => {}, 60_000)"], { gitBinary: node, timeoutMs: 200 }),
    (err: unknown) => err instanceof GitCommandError && err.timedOut,
  );
});

test("a cancelled command rejects with the signal's reason, also when cancelled before it starts", async () => {
  const reason = new Error("Instance deleted");
  const controller = new AbortController();
  const pending = runGit(["-e", "setTimeout(() => {}, 60_000)"], {
    gitBinary: node,
    timeoutMs: 60_000,
    signal: controller.signal,
  });
  controller.abort(reason);
  await assert.rejects(pending, (err: unknown) => err === reason);
  await assert.rejects(
    runGit(["--version"], { gitBinary: node, timeoutMs: 60_000, signal: controller.signal }),
    (err: unknown) => err === reason,
  );
  const bare = new AbortController();
  bare.abort("no error");
  assert.equal(abortReason(bare.signal).message, "cancelled");
});

test("git's reason is its last fatal or error lines, with passwords in URLs redacted", () => {
  const failed = new GitCommandError(
    128,
    "Cloning...\nremote: hello\nfatal: could not read from https://user:s3cret@example.test/r.git\n",
    false,
    "",
  );
  const reason = gitReason(failed, 60_000);
  assert.match(reason, /^fatal: could not read from/);
  assert.doesNotMatch(reason, /s3cret/);
  assert.equal(gitReason(new GitCommandError(1, "just a line\n", false, ""), 60_000), "just a line");
  assert.equal(gitReason(new GitCommandError(2, "", false, ""), 60_000), "git exited with code 2");
  assert.equal(
    gitReason(new GitCommandError(undefined, "", true, ""), 60_000),
    "git gave no answer within 60 s",
  );
});
