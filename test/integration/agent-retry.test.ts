/**
 * The agent's one retry policy, seen from outside: a failure that repeats is tried again
 * on a back-off that grows, logged once per try and reported by one Event, not in a storm.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { LABELS } from "../../controller/src/api/types.js";
import { images, run } from "../harness/index.js";
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
  await runAgent(world, {}, log.logger);

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

  await new Promise<void>((resolve) => holder.close(() => resolve()));
  released = true;
});
