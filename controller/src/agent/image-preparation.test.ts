import { test } from "node:test";
import assert from "node:assert/strict";
import { ImagePreparations, type PreparationContext } from "./image-preparation.js";

const BUILDING = { phase: "Building" as const, reason: "Building", message: "building the image" };
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Work that takes a slot and holds it until the test ends it (or its signal fires). */
function heldWork(log: string[], name: string) {
  let finish: (value: string) => void = () => undefined;
  const work = async (context: PreparationContext): Promise<string> => {
    context.report(BUILDING);
    const release = await context.slot();
    log.push(`start ${name}`);
    try {
      return await new Promise<string>((resolve, reject) => {
        finish = resolve;
        context.signal.addEventListener("abort", () => {
          log.push(`cancelled ${name}`);
          reject(new Error("cancelled"));
        });
      });
    } finally {
      release();
    }
  };
  return { work, finish: (value: string) => finish(value) };
}

test("no more than `limit` pulls and builds run at once; the others wait their turn in order", async () => {
  const woken: string[] = [];
  const log: string[] = [];
  const pool = new ImagePreparations({ limit: 2, onSettled: (key) => woken.push(key) });
  const jobs = ["a", "b", "c", "d"].map((name) => ({ name, ...heldWork(log, name) }));
  for (const job of jobs) {
    const result = await pool.prepare(`ns/${job.name}`, "image", job.work);
    assert.ok("preparing" in result, `${job.name} does not hold the caller`);
  }
  await settled();
  assert.deepEqual(log, ["start a", "start b"]);
  assert.deepEqual(pool.load, { running: 2, waiting: 2, limit: 2 });
  const waiting = await pool.prepare("ns/c", "image", jobs[2]!.work);
  assert.ok("preparing" in waiting);
  assert.match(waiting.preparing.message, /waiting: all 2 pull\/build slots of this node are busy/);

  jobs[0]!.finish("image-a");
  await settled();
  assert.deepEqual(log, ["start a", "start b", "start c"], "a freed slot goes to the first waiting");
  assert.ok(woken.includes("ns/a"), "the end of a's work wakes a");
  assert.deepEqual(await pool.prepare("ns/a", "image", jobs[0]!.work), { done: "image-a" });
});

test("cancelling frees the slot at once and ends the work through its signal; a waiting one never starts", async () => {
  const log: string[] = [];
  const woken: string[] = [];
  const pool = new ImagePreparations({ limit: 1, onSettled: (key) => woken.push(key) });
  const a = heldWork(log, "a");
  const b = heldWork(log, "b");
  const c = heldWork(log, "c");
  await pool.prepare("ns/a", "image", a.work);
  await pool.prepare("ns/b", "image", b.work);
  await pool.prepare("ns/c", "image", c.work);
  await settled();
  pool.cancel("ns/b"); // waiting: never starts
  pool.cancel("ns/a"); // running: its signal fires, its slot goes to c
  await settled();
  assert.deepEqual(log, ["start a", "cancelled a", "start c"]);
  assert.deepEqual(pool.keys(), ["ns/c"]);
  assert.deepEqual(woken, ["ns/c"], "c is woken to show it runs; cancelled work wakes nobody");
  pool.cancelAll();
  await settled();
  assert.deepEqual(pool.load, { running: 0, waiting: 0, limit: 1 });
});

test("work that ends at once answers in the same pass; a failure is thrown to the caller once", async () => {
  const pool = new ImagePreparations({ limit: 1, onSettled: () => undefined });
  assert.deepEqual(await pool.prepare("ns/a", "image", () => Promise.resolve("cached")), { done: "cached" });
  await assert.rejects(
    pool.prepare("ns/b", "image", () => Promise.reject(new Error("no such image"))),
    /no such image/,
  );
  assert.deepEqual(pool.keys(), []);
});

test("other work for the same Instance (a new image) cancels the old", async () => {
  const log: string[] = [];
  const pool = new ImagePreparations({ limit: 2, onSettled: () => undefined });
  await pool.prepare("ns/a", "image:1", heldWork(log, "one").work);
  await pool.prepare("ns/a", "image:2", heldWork(log, "two").work);
  await settled();
  assert.deepEqual(log, ["start one", "cancelled one", "start two"]);
  pool.cancelAll();
});

test("a limit below one is refused", () => {
  assert.throws(() => new ImagePreparations({ limit: 0, onSettled: () => undefined }), /positive integer/);
});
