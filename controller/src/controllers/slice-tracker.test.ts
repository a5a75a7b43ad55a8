import { test } from "node:test";
import assert from "node:assert/strict";
import type { EndpointSlice } from "../kube/resources.js";
import { SliceTracker } from "./slice-tracker.js";

function slice(
  name: string,
  resourceVersion: string,
  generation?: number,
  uid = `uid-${name}`,
): EndpointSlice {
  return {
    metadata: { name, uid, resourceVersion, ...(generation !== undefined ? { generation } : {}) },
    addressType: "IPv4",
    endpoints: [],
  };
}

test("a written slice is caught up once the cache holds that version, or a later generation", () => {
  const tracker = new SliceTracker(30_000);
  tracker.wrote("ns/web", slice("a", "7", 2), 0);
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "5", 1)], 1), false);
  assert.equal(tracker.caughtUp("ns/web", [], 1), false, "a created slice not in the cache yet");
  assert.equal(tracker.caughtUp("ns/other", [], 1), true, "other services are not held up");
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "7", 2)], 1), true);
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "5", 1)], 2), true, "the record is gone once seen");

  tracker.wrote("ns/web", slice("a", "9", 3), 0);
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "12", 4)], 1), true, "someone else's later write");
});

test("a deleted slice is caught up once the cache no longer holds it (or holds a new one of that name)", () => {
  const tracker = new SliceTracker(30_000);
  tracker.deleted("ns/web", slice("a", "7"), 0);
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "7")], 1), false);
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "9", undefined, "uid-new")], 1), true);
  tracker.deleted("ns/web", slice("b", "3"), 0);
  assert.equal(tracker.caughtUp("ns/web", [], 1), true);
});

test("a write the cache never shows stops holding the service up after the timeout", () => {
  const tracker = new SliceTracker(30_000);
  tracker.wrote("ns/web", slice("a", "7"), 0);
  assert.equal(tracker.caughtUp("ns/web", [], 29_999), false);
  assert.equal(tracker.caughtUp("ns/web", [], 30_000), true);
});

test("a later version of the same generation (a metadata edit after ours) is caught up too", () => {
  const tracker = new SliceTracker(30_000);
  tracker.wrote("ns/web", slice("a", "7", 2), 0);
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "6", 2)], 1), false, "an older version");
  assert.equal(tracker.caughtUp("ns/web", [slice("a", "8", 2)], 1), true);
});

test("a written slice someone deleted once the cache showed it is not waited for", () => {
  const tracker = new SliceTracker(30_000);
  tracker.wrote("ns/web", slice("a", "7", 2), 0);
  tracker.gone("ns/web", slice("a", "5", 1, "uid-old"));
  assert.equal(tracker.caughtUp("ns/web", [], 1), false, "an older slice of that name went");
  tracker.gone("ns/web", slice("a", "7", 2));
  assert.equal(tracker.caughtUp("ns/web", [], 1), true);
});
