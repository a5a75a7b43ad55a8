import { test } from "node:test";
import assert from "node:assert/strict";
import type { RepositorySource } from "../api/types.js";
import { CommitCache } from "./commit-cache.js";

function setup(ttlMs = 1000) {
  let now = 0;
  const lookups: RepositorySource[] = [];
  let answer = "a".repeat(40);
  let failNext = false;
  const cache = new CommitCache({
    ttlMs,
    clock: { now: () => now },
    resolve: async (repository) => {
      lookups.push(repository);
      if (failNext) {
        failNext = false;
        throw new Error("unreachable");
      }
      return answer;
    },
  });
  return {
    cache,
    lookups,
    advance: (ms: number) => (now += ms),
    moveBranch: (commit: string) => (answer = commit),
    failOnce: () => (failNext = true),
  };
}

test("a commit is looked up once per ref and reused until it expires", async () => {
  const { cache, lookups, advance, moveBranch } = setup();
  const repository = { url: "file:///r", ref: "main" };
  assert.equal(await cache.resolve(repository), "a".repeat(40));
  moveBranch("b".repeat(40));
  advance(999);
  assert.equal(await cache.resolve(repository), "a".repeat(40));
  assert.equal(lookups.length, 1);
  advance(1);
  assert.equal(await cache.resolve(repository), "b".repeat(40), "a moved branch is seen after the TTL");
  assert.equal(lookups.length, 2);
  await cache.resolve({ url: "file:///r", ref: "other" });
  assert.equal(lookups.length, 3, "another ref is another lookup");
});

test("concurrent callers share one lookup; a failure is not cached", async () => {
  const { cache, lookups, failOnce } = setup();
  const repository = { url: "file:///r" };
  failOnce();
  const results = await Promise.allSettled([cache.resolve(repository), cache.resolve(repository)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
  assert.equal(lookups.length, 1);
  assert.equal(await cache.resolve(repository), "a".repeat(40));
  assert.equal(lookups.length, 2);
});

test("prune forgets expired entries only, and never a lookup still running", async () => {
  const { cache, lookups, advance } = setup();
  await cache.resolve({ url: "file:///old" });
  advance(600);
  await cache.resolve({ url: "file:///young" });
  cache.prune();
  assert.equal(cache.size, 2, "nothing expired yet");
  advance(400);
  let finish!: (commit: string) => void;
  const running = new CommitCache({
    ttlMs: 1000,
    clock: { now: () => 0 },
    resolve: () => new Promise<string>((resolve) => (finish = resolve)),
  });
  const inFlight = running.resolve({ url: "file:///slow" });
  running.prune();
  assert.equal(running.size, 1, "a running lookup stays, to be shared");
  finish("c".repeat(40));
  assert.equal(await inFlight, "c".repeat(40));

  cache.prune();
  assert.equal(cache.size, 1, "the expired entry is forgotten, the young one kept");
  await cache.resolve({ url: "file:///young" });
  assert.equal(lookups.length, 2, "the kept entry still answers from memory");
  await cache.resolve({ url: "file:///old" });
  assert.equal(lookups.length, 3);
});
