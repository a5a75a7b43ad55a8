/**
 * A build whose failing step prints 100 KB, through the agent against the real API server
 * and Docker engine: the Instance still gets its status (Failed, BuildFailed) and an Event,
 * each message within its limit, and what they keep of the output is its end, where the
 * error is, even when that is the end of one very long line.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { MESSAGE_LIMIT } from "../../controller/src/runtime/conditions.js";
import { TEST_REPOSITORIES_DIR, run, testRepositoryScratch } from "../harness/index.js";
import {
  agentWorld,
  condition,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

/** What the step prints last. Computed by the shell, so the step's own text (which error
 * messages quote) does not contain it: only the output can bring it into a message. */
const CAUSE = "error: the-real-42nd-cause";

/** 1,600 lines of chatter (about 100 KB), then a 20 KB line (blanks) that ends with the cause. */
const LOUD_STEP =
  'RUN ["/bin/sh", "-c", "i=0; while [ $i -lt 1600 ]; do echo chatter-line-$i-of-a-loud-build-step-padding-padding-padding; ' +
  `i=$((i+1)); done; printf %20000s x; echo error: the-real-$((6*7))nd-cause; exit 3"]`;

test("a build step that prints 100 KB fails with a capped status that keeps the error at its end", async (t) => {
  const scratch = await testRepositoryScratch("berth-loud-build-");
  t.after(() => rm(scratch, { recursive: true, force: true }));
  const dir = join(scratch, "repo");
  const made = await run("bash", ["hack/test-repo.sh", dir]);
  assert.equal(made.code, 0, made.stderr);
  const url = made.stdout.trim().split("\n").pop() ?? "";
  const containerfile = await readFile(join(dir, "Containerfile"), "utf8");
  await writeFile(join(dir, "Containerfile"), containerfile.replace("COPY www/", `${LOUD_STEP}\nCOPY www/`));
  const git = (...args: string[]) =>
    run("git", ["-C", dir, "-c", "user.name=Berth Test", "-c", "user.email=test@berth.invalid", ...args]);
  assert.equal((await git("commit", "--quiet", "--all", "--message", "a loud failing step")).code, 0);

  const world = await agentWorld(t);
  await runAgent(world, { allowFileRepositories: [TEST_REPOSITORIES_DIR] });
  await createInstance(world, "loud", { repository: { url, ref: "main" } });
  const status = await waitForStatus(
    world,
    "loud",
    "the build to fail",
    (s) => condition(s, "ContainerReady")?.reason === "BuildFailed",
    300_000,
  );
  assert.equal(status.phase, "Failed");
  const message = condition(status, "ContainerReady")?.message ?? "";
  assert.ok(message.length <= MESSAGE_LIMIT, `condition message of ${message.length} characters`);
  assert.ok((status.message ?? "").length <= MESSAGE_LIMIT);
  assert.ok(message.includes(CAUSE), `the cause is kept:\n${message}`);
  assert.ok(status.message?.includes(CAUSE), "in the status message too");

  const events = (await eventsOf(world, "loud")).filter((event) => event.reason === "BuildFailed");
  assert.ok(events.length > 0, "a BuildFailed Event was recorded");
  for (const event of events) {
    assert.ok(Buffer.byteLength(event.note ?? "") <= 1024, "an Event note stays within 1 KiB");
    assert.ok(event.note?.includes(CAUSE), `the Event keeps the cause:\n${event.note}`);
  }
});
