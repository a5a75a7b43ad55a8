import { test } from "node:test";
import assert from "node:assert/strict";
import { BuildFailedError } from "./errors.js";
import type { JsonMessage } from "./json-lines.js";
import { BUILD_TAIL_LINES, followBuild, followPull } from "./progress.js";

async function* messages(...list: JsonMessage[]): AsyncGenerator<JsonMessage> {
  for (const message of list) yield message;
}

test("followBuild streams lines and returns the id from the aux message", async () => {
  const lines: string[] = [];
  const id = await followBuild(
    messages(
      { stream: "Step 1/2 : FROM scratch\n" },
      { stream: " ---> Running in 1\nhello\n" },
      { aux: { ID: "sha256:abc" } },
      { stream: "Successfully built abc\n" },
    ),
    (line) => lines.push(line),
  );
  assert.equal(id, "sha256:abc");
  assert.deepEqual(lines, [
    "Step 1/2 : FROM scratch",
    " ---> Running in 1",
    "hello",
    "Successfully built abc",
  ]);
});

test("followBuild falls back to 'Successfully built' and fails without any id", async () => {
  assert.equal(await followBuild(messages({ stream: "Successfully built 0123abcd\n" })), "0123abcd");
  await assert.rejects(followBuild(messages({ stream: "Step 1/1 : FROM x\n" })), BuildFailedError);
});

test("followBuild reports the failing step with the last lines of output", async () => {
  const noise = Array.from({ length: 30 }, (_, i) => ({ stream: `line ${i}\n` }));
  const err = await followBuild(
    messages({ stream: "Step 1/2 : FROM base\n" }, { stream: "Step 2/2 : RUN make\n" }, ...noise, {
      error: "returned a non-zero code: 2",
      errorDetail: { code: 2, message: "The command '/bin/sh -c make' returned a non-zero code: 2" },
    }),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof BuildFailedError);
  assert.equal(err.step, "Step 2/2 : RUN make");
  assert.equal(err.engineMessage, "The command '/bin/sh -c make' returned a non-zero code: 2");
  assert.equal(err.lastLines.length, BUILD_TAIL_LINES);
  assert.equal(err.lastLines.at(-1), "line 29");
});

test("followPull passes progress on and throws the registry's error", async () => {
  const progress: string[] = [];
  await followPull(messages({ status: "Pulling from app" }, { id: "abc", status: "Pull complete" }), (line) =>
    progress.push(line),
  );
  assert.deepEqual(progress, ["Pulling from app", "abc: Pull complete"]);
  await assert.rejects(
    followPull(messages({ status: "Pulling" }, { error: "x", errorDetail: { message: "manifest unknown" } })),
    /^Error: manifest unknown$/,
  );
});
