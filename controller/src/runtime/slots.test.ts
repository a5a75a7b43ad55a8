import assert from "node:assert/strict";
import { test } from "node:test";
import { Slots } from "./slots.js";

const never = new AbortController().signal;

/** Lets every settled promise's callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("Slots grants up to the limit at once and the rest in the order they asked", async () => {
  const slots = new Slots(2, "start");
  const granted: string[] = [];
  const releases = new Map<string, () => void>();
  for (const name of ["a", "b", "c", "d", "e"]) {
    void slots.acquire(never).then((release) => {
      granted.push(name);
      releases.set(name, release);
    });
  }
  await settle();
  assert.deepEqual(granted, ["a", "b"]);
  assert.deepEqual(slots.load, { running: 2, waiting: 3, limit: 2 });
  assert.equal(slots.full, true);
  releases.get("b")!();
  await settle();
  assert.deepEqual(granted, ["a", "b", "c"]);
  releases.get("a")!();
  releases.get("c")!();
  await settle();
  assert.deepEqual(granted, ["a", "b", "c", "d", "e"]);
  assert.deepEqual(slots.load, { running: 2, waiting: 0, limit: 2 });
});

test("Slots: a release counts once however often it is called", async () => {
  const slots = new Slots(1, "start");
  const first = await slots.acquire(never);
  let secondGranted = false;
  let thirdGranted = false;
  void slots.acquire(never).then(() => (secondGranted = true));
  void slots.acquire(never).then(() => (thirdGranted = true));
  first();
  first();
  await settle();
  assert.equal(secondGranted, true);
  assert.equal(thirdGranted, false, "a second call of the same release must not free another slot");
  assert.deepEqual(slots.load, { running: 1, waiting: 1, limit: 1 });
});

test("Slots.run gives the slot back when the work throws", async () => {
  const slots = new Slots(1, "start");
  await assert.rejects(
    slots.run(never, () => Promise.reject(new Error("engine refused"))),
    /engine refused/,
  );
  assert.deepEqual(slots.load, { running: 0, waiting: 0, limit: 1 });
  assert.equal(await slots.run(never, () => Promise.resolve("next")), "next");
});

test("Slots: an abort while waiting leaves the line with its reason and frees no slot", async () => {
  const slots = new Slots(1, "start");
  const held = await slots.acquire(never);
  const shutdown = new AbortController();
  const waiting = slots.acquire(shutdown.signal);
  let laterGranted = false;
  void slots.acquire(never).then(() => (laterGranted = true));
  shutdown.abort(new Error("agent stopping"));
  await assert.rejects(waiting, /agent stopping/);
  assert.deepEqual(slots.load, { running: 1, waiting: 1, limit: 1 });
  held();
  await settle();
  assert.equal(laterGranted, true, "the caller behind the aborted one is next");
  await assert.rejects(slots.acquire(shutdown.signal), /agent stopping/, "an aborted signal gets no slot");
});

test("Slots refuses a limit that is not a positive integer, naming what it limits", () => {
  assert.throws(
    () => new Slots(0, "container start"),
    /container start limit must be a positive integer, got 0/,
  );
  assert.throws(() => new Slots(1.5, "container start"), /got 1.5/);
});
