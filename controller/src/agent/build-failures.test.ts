import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { SourceBuildError, SourceError } from "../source/errors.js";
import { FakeClock } from "../testing/fake-clock.js";
import { BUILD_FAILURES_FILE, BuildFailures, REMEMBERED_FAILURES } from "./build-failures.js";
import { failureMessage } from "./images.js";

function stateDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-build-failures-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const DAY = 24 * 60 * 60_000;

test("a failed build outlives the agent, with the same message as before the restart", (t) => {
  const dir = stateDir(t);
  const clock = new FakeClock(1_000);
  const long = `${" ".repeat(5_000)} error: the real cause`;
  const failed = new SourceBuildError(
    "building x at commit 0123456789ab failed",
    "Step 3/5 : RUN make",
    [...Array.from({ length: 50 }, (_, i) => `line ${i}`), long],
    "/state/logs/x.log",
  );
  new BuildFailures({ stateDir: dir, clock }).remember("k1", failed);
  assert.equal(statSync(path.join(dir, BUILD_FAILURES_FILE)).mode & 0o777, 0o600);

  const restored = new BuildFailures({ stateDir: dir, clock }).get("k1");
  assert.ok(restored instanceof SourceBuildError);
  assert.equal(restored.reason, "BuildFailed");
  assert.equal(restored.step, "Step 3/5 : RUN make");
  assert.equal(restored.logPath, "/state/logs/x.log");
  assert.equal(failureMessage(restored), failureMessage(failed));
  assert.ok(
    readFileSync(path.join(dir, BUILD_FAILURES_FILE), "utf8").length < 30_000,
    "the file keeps only the end",
  );
});

test("failures the agent's flags decide are kept in memory only; the commit's own are kept on disk", (t) => {
  const dir = stateDir(t);
  const clock = new FakeClock(0);
  const first = new BuildFailures({ stateDir: dir, clock });
  first.remember("refused", new SourceError("RepositoryURLRefused", "file:// is not allowed here"));
  first.remember("large", new SourceError("RepositoryTooLarge", "over the limit"));
  first.remember("missing", new SourceError("ContainerFileMissing", "no Dockerfile"));
  assert.equal(first.get("refused")?.reason, "RepositoryURLRefused", "remembered while the agent runs");
  const second = new BuildFailures({ stateDir: dir, clock });
  assert.equal(second.get("refused"), undefined);
  assert.equal(second.get("large"), undefined);
  assert.equal(second.get("missing")?.message, "no Dockerfile");
});

test("an entry a day old is forgotten when the file is read; the newest are kept when there are too many", (t) => {
  const dir = stateDir(t);
  const clock = new FakeClock(0);
  const failures = new BuildFailures({ stateDir: dir, clock });
  failures.remember("old", new SourceError("NoExposedPort", "no EXPOSE"));
  clock.advance(DAY - 1);
  assert.ok(new BuildFailures({ stateDir: dir, clock }).get("old"));
  clock.advance(1);
  assert.equal(new BuildFailures({ stateDir: dir, clock }).get("old"), undefined);

  const many = new BuildFailures({ stateDir: dir, clock });
  for (let i = 0; i <= REMEMBERED_FAILURES; i++)
    many.remember(`k${i}`, new SourceError("BuildFailed", `f${i}`));
  const reread = new BuildFailures({ stateDir: dir, clock });
  assert.equal(reread.get("k0"), undefined, "the oldest went");
  assert.equal(reread.get(`k${REMEMBERED_FAILURES}`)?.message, `f${REMEMBERED_FAILURES}`);
  assert.equal(many.get("k0"), undefined);
});

test("an unreadable file starts over and says so; malformed entries are skipped", (t) => {
  const dir = stateDir(t);
  const clock = new FakeClock(0);
  const file = path.join(dir, BUILD_FAILURES_FILE);
  writeFileSync(file, "{not json");
  const problems: string[] = [];
  assert.equal(
    new BuildFailures({ stateDir: dir, clock, onUnreadable: (m) => problems.push(m) }).get("k"),
    undefined,
  );
  assert.match(problems[0] ?? "", /not a record of failed builds/);
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      failures: [
        ["bad-reason", { reason: "RepositoryURLRefused", message: "m", failedAt: 0 }],
        ["bad-lines", { reason: "BuildFailed", message: "m", failedAt: 0, lastLines: [1] }],
        ["no-time", { reason: "BuildFailed", message: "m" }],
        ["good", { reason: "BuildFailed", message: "m", failedAt: 0 }],
      ],
    }),
  );
  const read = new BuildFailures({ stateDir: dir, clock });
  assert.equal(read.get("bad-reason"), undefined);
  assert.equal(read.get("bad-lines"), undefined);
  assert.equal(read.get("no-time"), undefined);
  assert.ok(read.get("good") instanceof SourceBuildError);
});

test("without a state directory nothing is written", (t) => {
  const dir = stateDir(t);
  const failures = new BuildFailures();
  failures.remember("k", new SourceError("BuildFailed", "m"));
  assert.equal(failures.get("k")?.message, "m");
  assert.throws(() => statSync(path.join(dir, BUILD_FAILURES_FILE)));
});
