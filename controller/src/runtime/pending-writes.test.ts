import assert from "node:assert/strict";
import { test } from "node:test";
import { PendingWrites } from "./pending-writes.js";

test("a write is taken once, by the version it went over, and only for its own object", () => {
  const pending = new PendingWrites<string>(4);
  pending.add("ns/a", "1", "first");
  pending.add("ns/a", "2", "second");
  assert.equal(pending.take("ns/b", "1"), undefined, "another object");
  assert.equal(pending.take("ns/a", "3"), undefined, "no write went over 3");
  assert.equal(pending.take("ns/a", "2"), "second");
  assert.equal(pending.take("ns/a", "2"), undefined, "taken already");
  assert.equal(pending.take("ns/a", undefined), undefined, "a cache without a version");
  assert.equal(pending.take("ns/a", "1"), "first");
});

test("a withdrawn write is gone, withdrawing one taken already changes nothing, and only the newest are kept", () => {
  const pending = new PendingWrites<string>(2);
  const withdraw = pending.add("ns/a", "1", "failed");
  withdraw();
  assert.equal(pending.take("ns/a", "1"), undefined);

  const late = pending.add("ns/a", "1", "taken");
  pending.add("ns/a", "1", "again");
  assert.equal(pending.take("ns/a", "1"), "taken");
  late();
  assert.equal(pending.take("ns/a", "1"), "again", "the other write over 1 stays");

  pending.add("ns/a", "1", "oldest");
  pending.add("ns/a", "2", "middle");
  pending.add("ns/a", "3", "newest");
  assert.equal(pending.take("ns/a", "1"), undefined, "the oldest went");
  pending.forget("ns/a");
  assert.equal(pending.take("ns/a", "3"), undefined, "forgotten");
});
