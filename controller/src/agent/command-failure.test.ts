import { test } from "node:test";
import assert from "node:assert/strict";
import { START_CHECK_MS, commandFailureOf } from "./command-failure.js";

const template = { image: { name: "app:1", port: 8080 }, command: ["/no/such/binary"] };

test("the init's report of a missing command is CommandNotFound with its words", () => {
  const failure = commandFailureOf(
    {
      exitCode: 127,
      ranMs: 12,
      logText: "[FATAL tini (7)] exec /no/such/binary failed: No such file or directory\n",
    },
    template,
  );
  assert.equal(failure?.reason, "CommandNotFound");
  assert.match(failure?.message ?? "", /^command \/no\/such\/binary was not found in the image/);
  assert.match(failure?.message ?? "", /exec \/no\/such\/binary failed: No such file or directory/);
  assert.match(failure?.message ?? "", /code 127/);
});

test("a file that is not executable is CommandNotExecutable", () => {
  const failure = commandFailureOf(
    { exitCode: 126, ranMs: 5, logText: "[FATAL tini (7)] exec /www/healthz failed: Permission denied\n" },
    { image: { name: "app:1", port: 8080 }, command: ["/www/healthz"] },
  );
  assert.equal(failure?.reason, "CommandNotExecutable");
  assert.match(failure?.message ?? "", /^command \/www\/healthz is not executable/);
  assert.match(failure?.message ?? "", /Permission denied/);
});

test("without the init's words, an exit at once with 127 still names the command", () => {
  const failure = commandFailureOf({ exitCode: 127, ranMs: 40, logText: "" }, template);
  assert.equal(failure?.reason, "CommandNotFound");
  assert.match(failure?.message ?? "", /^command \/no\/such\/binary/);
  const entrypoint = commandFailureOf(
    { exitCode: 127, ranMs: 40, logText: "sh: app: not found\n" },
    { image: { name: "app:1", port: 8080 } },
  );
  assert.match(entrypoint?.message ?? "", /^the image's entrypoint was not found.*sh: app: not found/);
});

test("a process that ran and chose 126 or 127 itself, or any other code, is no command failure", () => {
  assert.equal(
    commandFailureOf({ exitCode: 127, ranMs: START_CHECK_MS + 1, logText: "bye\n" }, template),
    undefined,
  );
  assert.equal(commandFailureOf({ exitCode: 3, ranMs: 1, logText: "" }, template), undefined);
  assert.equal(
    commandFailureOf({ exitCode: 1, ranMs: 1, logText: "exec x failed: nope\n" }, template),
    undefined,
  );
});
