import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../testing/fake-clock.js";
import { ExpiringCache } from "./expiring-cache.js";
import { flushMarginMs } from "./external.js";
import { HttpError } from "./http.js";
import { WaitSlots } from "./limits.js";
import { blockingParams, checkSlug, includeAll, parseRegistration } from "./validation.js";
import { hostPortOf } from "../api/instance-entry.js";

const TTL = { minSeconds: 1, maxSeconds: 3600, defaultSeconds: 30 };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError && err.status === 400) return err.field;
    throw err;
  }
  return undefined;
}

test("parseRegistration takes url, ttlSeconds and metadata, with the default TTL", () => {
  assert.deepEqual(parseRegistration({ url: "https://a.example:8443/x" }, TTL), {
    url: "https://a.example:8443/x",
    ttlSeconds: 30,
  });
  assert.deepEqual(
    parseRegistration({ url: "http://[::1]:80", ttlSeconds: 5, metadata: { zone: "b" } }, TTL),
    {
      url: "http://[::1]:80",
      ttlSeconds: 5,
      metadata: { zone: "b" },
    },
  );
});

test("parseRegistration names the field of every problem", () => {
  assert.equal(
    fieldOf(() => parseRegistration(null, TTL)),
    "body",
  );
  assert.equal(
    fieldOf(() => parseRegistration({ url: "http://a", extra: 1 }, TTL)),
    "extra",
  );
  assert.equal(
    fieldOf(() => parseRegistration({ url: "javascript:alert(1)" }, TTL)),
    "url",
  );
  assert.equal(
    fieldOf(() => parseRegistration({ url: "http://a", ttlSeconds: 3601 }, TTL)),
    "ttlSeconds",
  );
  assert.equal(
    fieldOf(() => parseRegistration({ url: "http://a", metadata: { "bad key": "x" } }, TTL)),
    "metadata.bad key",
  );
  assert.equal(
    fieldOf(() => parseRegistration({ url: "http://a", metadata: [] }, TTL)),
    "metadata",
  );
});

test("blocking parameters: index is an integer, wait a duration or seconds, capped", () => {
  assert.deepEqual(blockingParams(new URLSearchParams(""), 300_000), { waitMs: 300_000 });
  assert.deepEqual(blockingParams(new URLSearchParams("index=7&wait=30s"), 300_000), {
    index: 7,
    waitMs: 30_000,
  });
  assert.deepEqual(blockingParams(new URLSearchParams("index=7&wait=10"), 300_000), {
    index: 7,
    waitMs: 10_000,
  });
  assert.deepEqual(blockingParams(new URLSearchParams("index=7&wait=1h"), 300_000), {
    index: 7,
    waitMs: 300_000,
  });
  assert.equal(
    fieldOf(() => blockingParams(new URLSearchParams("index=1.5"), 1000)),
    "index",
  );
  assert.equal(
    fieldOf(() => blockingParams(new URLSearchParams("wait=soon"), 1000)),
    "wait",
  );
  assert.equal(
    fieldOf(() => includeAll(new URLSearchParams("include=some"))),
    "include",
  );
  assert.equal(includeAll(new URLSearchParams("include=all")), true);
});

test("slugs are RFC 1035 labels", () => {
  assert.equal(checkSlug("orders-v2"), "orders-v2");
  for (const bad of ["2orders", "Orders", "orders-", "a".repeat(64), "a.b", ""]) {
    assert.equal(
      fieldOf(() => checkSlug(bad)),
      "slug",
      bad,
    );
  }
});

test("hostPortOf fills the scheme's default port", () => {
  assert.deepEqual(hostPortOf("https://a.example/x"), { host: "a.example", port: 443 });
  assert.deepEqual(hostPortOf("http://[2001:db8::1]:8080"), { host: "2001:db8::1", port: 8080 });
});

test("the heartbeat write margin is a quarter of the TTL, from 0.5 s to 5 s", () => {
  assert.equal(flushMarginMs(1000), 500);
  assert.equal(flushMarginMs(8000), 2000);
  assert.equal(flushMarginMs(3_600_000), 5000);
});

test("ExpiringCache forgets entries after their time and keeps at most its size", () => {
  const clock = new FakeClock();
  const cache = new ExpiringCache<string>(clock, 1000, 2);
  cache.set("a", "1");
  cache.set("b", "2");
  cache.set("c", "3");
  assert.equal(cache.get("a"), undefined, "the oldest went first");
  assert.equal(cache.get("c"), "3");
  clock.advance(1000);
  assert.equal(cache.get("c"), undefined);
});

test("WaitSlots bound per client and in all, and give a slot back once", () => {
  const slots = new WaitSlots({ total: 2, perClient: 1, retryAfterSeconds: 5 });
  const release = slots.acquire("a");
  assert.throws(
    () => slots.acquire("a"),
    (err: HttpError) => err.status === 503 && err.headers["Retry-After"] === "5",
  );
  slots.acquire("b");
  assert.throws(() => slots.acquire("c"), /the registry holds its limit of 2/);
  release();
  release();
  assert.equal(slots.open, 1);
  slots.acquire("c");
});
