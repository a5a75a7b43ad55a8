/**
 * The agent's one retry policy, seen from outside: a failure that repeats is tried again
 * on a back-off that grows, logged once per try and reported by one Event, not in a storm.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { images, run, waitFor } from "../harness/index.js";
import {
  agentWorld,
  capturedLog,
  condition,
  createInstance,
  eventsOf,
  runAgent,
  waitForStatus,
} from "./agent-fixtures.js";

const WINDOW_MS = 60_000;
/** The agent's retry back-off in this test: tries at 0, 5, 15, 35 and 55 s, then every 20 s. */
const RETRY_BACKOFF = { baseMs: 5000, maxMs: 20_000 };
/** Slack for the engine, the API server and a loaded machine on top of one back-off step. */
const MARGIN_MS = 30_000;

/** Containers the engine created for one Instance between two moments (seconds since the epoch). */
async function creationsBetween(nodeName: string, instance: string, since: number, until: number) {
  const result = await run("docker", [
    "events",
    "--since",
    String(since),
    "--until",
    String(until),
    "--filter",
    "type=container",
    "--filter",
    "event=create",
    "--filter",
    `label=${LABELS.node}=${nodeName}`,
    "--filter",
    `label=${LABELS.instance}=${instance}`,
    "--format",
    "{{.ID}}",
  ]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter((line) => line.trim() !== "").length;
}

test("a host port held outside Berth: tried on a growing back-off, not in a loop", async (t) => {
  const world = await agentWorld(t);
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  const port = (holder.address() as AddressInfo).port;
  let released = false;
  t.after(() => {
    if (!released) holder.close();
  });
  const log = capturedLog();
  await runAgent(world, { retryBackoff: RETRY_BACKOFF }, log.logger);

  const since = Math.floor(Date.now() / 1000);
  await createInstance(
    world,
    "held",
    { image: { name: images.echo, port: 8080 }, healthCheck: { type: "http", path: "/healthz" } },
    { hostPort: port },
  );
  await sleep(WINDOW_MS);
  const until = Math.floor(Date.now() / 1000);
  const creations = await creationsBetween(world.nodeName, "held", since, until);
  const lines = log
    .text()
    .split("\n")
    .filter((line) => /reconcile failed|HostPortInUse/.test(line));
  const failedLines = lines.filter((line) => line.includes("reconcile failed")).length;
  const events = (await eventsOf(world, "held")).filter((event) => event.reason === "HostPortInUse");
  t.diagnostic(
    `over ${WINDOW_MS / 1000} s: ${creations} container creations, ${lines.length} log lines about the failure ` +
      `(${failedLines} "reconcile failed"), ${events.length} HostPortInUse Events ` +
      `(series count ${events[0]?.series?.count ?? 1})`,
  );
  const status = await waitForStatus(world, "held", "HostPortInUse", (s) => s.phase === "Failed");
  assert.equal(condition(status, "ContainerReady")?.reason, "HostPortInUse");
  assert.ok(creations >= 1 && creations <= 8, `${creations} creations in ${WINDOW_MS} ms`);
  assert.ok(lines.length >= 1 && lines.length <= 8, `${lines.length} log lines:\n${lines.join("\n")}`);
  assert.equal(events.length, 1);

  assert.match(status.message ?? "", /retrying in \d+ s$/, "the status says when the next try is");

  // Freed, the port is taken at the next try: within one back-off step (at most maxMs).
  await new Promise<void>((resolve) => holder.close(() => resolve()));
  released = true;
  const freedAt = Date.now();
  const ready = await waitForStatus(
    world,
    "held",
    "ready once the port is free",
    (s) => s.ready === true,
    RETRY_BACKOFF.maxMs + MARGIN_MS,
  );
  assert.equal(ready.address?.port, port);
  t.diagnostic(`ready ${Date.now() - freedAt} ms after the port was freed`);
  const after = await waitFor("the HostPortInUse Event, still one", async () =>
    (await eventsOf(world, "held")).filter((event) => event.reason === "HostPortInUse"),
  );
  assert.equal(after.length, 1);
});
