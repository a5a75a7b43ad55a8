import assert from "node:assert/strict";
import { test } from "node:test";
import type { Condition } from "../api/types.js";
import { ALL_FIELDS, CONDITIONS_ONLY, partWritten } from "./status-apply.js";

const at = "2026-03-01T12:00:00Z";
const ready: Condition = { type: "Ready", status: "True", reason: "Up", message: "", lastTransitionTime: at };
const published: Condition = { ...ready, type: "Published", reason: "Listed" };

test("a writer's part is written when each of its fields and conditions is there as it would write it", () => {
  const current = { readyReplicas: 1, conditions: [ready, published] };
  assert.equal(partWritten(current, { readyReplicas: 1, conditions: [ready] }, ALL_FIELDS), true);
  assert.equal(partWritten(current, { conditions: [published] }, CONDITIONS_ONLY), true);
  assert.equal(partWritten(current, { readyReplicas: 2, conditions: [ready] }, ALL_FIELDS), false);
  assert.equal(
    partWritten(current, { readyReplicas: 1, conditions: [{ ...ready, status: "False" }] }, ALL_FIELDS),
    false,
  );
  assert.equal(
    partWritten(current, { conditions: [{ ...published, message: "x" }] }, CONDITIONS_ONLY),
    false,
  );
  assert.equal(partWritten(undefined, { conditions: [published] }, CONDITIONS_ONLY), false);
});

test("a field the writer owns and leaves out must go; another writer's field is not its concern", () => {
  const current = { readyReplicas: 1, deploymentId: "abc", conditions: [ready] };
  assert.equal(partWritten(current, { readyReplicas: 1, conditions: [ready] }, ALL_FIELDS), false);
  assert.equal(partWritten(current, { conditions: [ready] }, CONDITIONS_ONLY), true);
});
