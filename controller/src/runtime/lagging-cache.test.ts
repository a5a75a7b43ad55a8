import assert from "node:assert/strict";
import { test } from "node:test";
import { API_VERSION, type Definition } from "../api/types.js";
import { cacheLagsBehind, lastWriteOf } from "./lagging-cache.js";

function at(resourceVersion: string | undefined): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { namespace: "team", name: "web", ...(resourceVersion ? { resourceVersion } : {}) },
    spec: { image: { name: "registry.invalid/web:1", port: 8080 } },
  };
}

const write = lastWriteOf(at("10"), at("12"), 0);

test("the cache lags while it shows the version the write went over, or an older one", () => {
  assert.equal(cacheLagsBehind(at("10"), write), true);
  assert.equal(cacheLagsBehind(at("11"), write), true, "another writer's change before the write");
  assert.equal(cacheLagsBehind(at("9"), write), true);
});

test("the cache is the truth once it shows the write's version or a later one", () => {
  assert.equal(cacheLagsBehind(at("12"), write), false);
  assert.equal(cacheLagsBehind(at("13"), write), false, "a change after the write");
  assert.equal(cacheLagsBehind(at("100"), write), false, "ordered as numbers, not as text");
  assert.equal(cacheLagsBehind(at(undefined), write), false);
});

test("versions that are no revisions are ordered by nothing but the write's own base", () => {
  const opaque = lastWriteOf(at("a"), at("b"), 0);
  assert.equal(cacheLagsBehind(at("a"), opaque), true);
  assert.equal(cacheLagsBehind(at("c"), opaque), false);
});
