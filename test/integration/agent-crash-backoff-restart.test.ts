/**
 * Crash-loop back-off outlives the agent. A container that keeps exiting (the exit image)
 * waits its back-off before the next restart; an agent restarted during that wait reads
 * the back-off from its state directory and still waits it out, instead of restarting the
 * container at once as a fresh count would.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { images } from "../harness/index.js";
import { agentWorld, condition, createInstance, runAgent, waitForStatus } from "./agent-fixtures.js";

/** Long enough that an agent restart (about a second) falls well inside it. */
const BASE_MS = 12_000;
const crashLoop = { baseMs: BASE_MS, maxMs: 2 * BASE_MS, resetAfterMs: 10 * BASE_MS };

test("an agent restarted during a crash-loop back-off still waits it out", async (t) => {
  const world = await agentWorld(t);
  const first = await runAgent(world, { crashLoop });
  await createInstance(world, "crashy", {
    image: { name: images.exit, port: 8080, pullPolicy: "IfNotPresent" },
  });
  // The first exit restarts at once; the second waits BASE_MS.
  const backingOff = await waitForStatus(
    world,
    "crashy",
    "the back-off after the second exit",
    (s) => condition(s, "ContainerReady")?.reason === "CrashLoopBackOff",
  );
  assert.equal(backingOff.restarts, 1);
  const waitingFor = backingOff.containerId ?? "";
  const exited = await world.docker.inspectContainer(waitingFor);
  const finishedAt = Date.parse(exited.state.finishedAt ?? "");
  assert.ok(Number.isFinite(finishedAt), "the engine says when it exited");
  await first.stop();

  await runAgent(world, { crashLoop });
  const restarted = await waitForStatus(
    world,
    "crashy",
    "the restart after the back-off",
    (s) => (s.restarts ?? 0) >= 2 && s.containerId !== waitingFor,
    60_000 + BASE_MS,
  );
  const next = await world.docker.inspectContainer(restarted.containerId ?? "");
  const createdAt = Date.parse(next.createdAt);
  // Both times are the engine's: the next container came no sooner than the back-off after
  // the exit (the agent saw the exit after it happened, so its wait ends later still).
  assert.ok(
    createdAt - finishedAt >= BASE_MS,
    `the next container was created ${createdAt - finishedAt} ms after the exit, within the ${BASE_MS} ms back-off`,
  );
});
