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

test("prune forgets expired entries only", async () => {
  const { cache, lookups, advance } = setup();
  await cache.resolve({ url: "file:///r" });
  cache.prune();
  await cache.resolve({ url: "file:///r" });
  assert.equal(lookups.length, 1);
  advance(5000);
  cache.prune();
  await cache.resolve({ url: "file:///r" });
  assert.equal(lookups.length, 2);
});
