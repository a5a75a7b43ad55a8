import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBuildLog } from "./build-log.js";
import { SourceError } from "./errors.js";
import { FakeClock } from "../testing/fake-clock.js";
import { directoryBytes, withinSize } from "./source-disk.js";

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "berth-source-disk-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("work that writes past the size limit is stopped through its signal and fails with RepositoryTooLarge", async (t) => {
  const dir = await scratch(t);
  const clock = new FakeClock();
  let stoppedBy: unknown;
  let written!: () => void;
  const wrote = new Promise<void>((resolve) => (written = resolve));
  const outcome = withinSize(
    dir,
    1024,
    "repository file:///x",
    undefined,
    async (signal) => {
      await writeFile(join(dir, "big"), Buffer.alloc(4096));
      written();
      // Git would go on writing; it is killed when the signal fires.
      await new Promise<void>((resolve) => {
        signal?.addEventListener("abort", () => {
          stoppedBy = signal.reason;
          resolve();
        });
      });
      throw new Error("killed");
    },
    clock,
  ).catch((err: unknown) => err);
  await wrote;
  assert.equal(stoppedBy, undefined, "not measured before the poll interval");
  assert.equal(clock.pendingTimers(), 1, "the next measurement waits on the clock");
  clock.advance(1000);
  const failure = await outcome;
  assert.ok(failure instanceof SourceError && failure.reason === "RepositoryTooLarge", String(failure));
  assert.match(
    failure.message,
    /repository file:\/\/\/x takes more than 1 KiB on disk \(the agent's --max-repository-size\)/,
  );
  assert.equal(stoppedBy, failure, "the work was stopped, not left to finish");
  assert.equal(clock.pendingTimers(), 0, "no measurement is left waiting");
});

test("work that ends within the limit passes; one that ends over it between two measurements still fails", async (t) => {
  const dir = await scratch(t);
  assert.equal(
    await withinSize(dir, 1024, "x", undefined, () => writeFile(join(dir, "a"), "small").then(() => 1)),
    1,
  );
  await assert.rejects(
    withinSize(dir, 1024, "x", undefined, () => writeFile(join(dir, "b"), Buffer.alloc(2048))),
    (err: unknown) => err instanceof SourceError && err.reason === "RepositoryTooLarge",
  );
  assert.equal(await directoryBytes(dir), 2048 + 5);
  assert.equal(
    await withinSize(dir, undefined, "x", undefined, () => Promise.resolve("unlimited")),
    "unlimited",
  );
});

test("a build log keeps its start and its last lines within the cap, and says what it left out", async (t) => {
  const dir = await scratch(t);
  const path = join(dir, "build.log");
  const log = await openBuildLog(path, undefined, 1000);
  for (let line = 0; line < 1000; line++)
    log.write(`line ${String(line).padStart(4, "0")} ${"x".repeat(40)}`);
  log.write("error: the step that failed");
  await log.close();
  const text = await readFile(path, "utf8");
  assert.ok(Buffer.byteLength(text) <= 1000 + 200, `capped: ${Buffer.byteLength(text)} bytes`);
  assert.match(text, /^line 0000 /, "the start");
  assert.match(text, /error: the step that failed\n$/, "the end, where the error is");
  assert.match(
    text,
    /# \.\.\. \d+ bytes of build output left out \(the log is capped at 1000 bytes\) \.\.\./,
  );
});
