import assert from "node:assert/strict";
import { test } from "node:test";
import { API_VERSION, type Condition, type Definition, type DefinitionStatus } from "../../api/types.js";
import { OwnStatusWrites } from "./own-status-writes.js";

const condition = (type: string, status: Condition["status"] = "True"): Condition => ({
  type,
  status,
  reason: "Test",
  message: "",
  lastTransitionTime: "2026-03-01T12:00:00Z",
});

function definition(
  resourceVersion: string,
  status: DefinitionStatus,
  labels?: Record<string, string>,
): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: {
      namespace: "team",
      name: "web",
      generation: 1,
      resourceVersion,
      ...(labels ? { labels } : {}),
    },
    spec: { image: { name: "registry.invalid/web:1", port: 8080 } },
    status,
  };
}

const published = condition("Published");
const written: DefinitionStatus = { readyReplicas: 1, conditions: [condition("Ready")] };
const before = definition("5", { readyReplicas: 0, conditions: [condition("Ready", "False"), published] });
const after = (status: DefinitionStatus = { ...written, conditions: [condition("Ready"), published] }) =>
  definition("6", status);

test("the event of its own write wakes no pass, once; the same change from anyone else does", () => {
  const writes = new OwnStatusWrites();
  assert.equal(writes.passNeeded(before, after()), true, "not written by this controller");
  writes.writing(before, written);
  assert.equal(writes.passNeeded(before, after()), false);
  assert.equal(writes.passNeeded(before, after()), true, "a write is its event's once");
});

test("an own write folded with anyone else's change, or gone over another version, wakes a pass", () => {
  const writes = new OwnStatusWrites();
  writes.writing(before, written);
  const discoveryToo = after({
    ...written,
    conditions: [condition("Ready"), condition("Published", "False")],
  });
  assert.equal(writes.passNeeded(before, discoveryToo), true, "another writer's condition moved too");
  writes.writing(before, written);
  assert.equal(
    writes.passNeeded(before, after({ ...written, readySummary: "1/1" })),
    true,
    "a field it did not write",
  );
  writes.writing(before, written);
  const labelled = definition("6", after().status ?? {}, { team: "a" });
  assert.equal(writes.passNeeded(before, labelled), true, "a label");
  writes.writing(before, written);
  assert.equal(
    writes.passNeeded(definition("4", before.status ?? {}), after()),
    true,
    "over another version",
  );
});

test("a change of nothing but discovery's condition wakes no pass; the Definition controller's own part does", () => {
  const writes = new OwnStatusWrites();
  const unpublished = definition("6", { ...before.status, conditions: [condition("Ready", "False")] });
  assert.equal(writes.passNeeded(before, unpublished), false);
  const fieldsMoved = definition("6", before.status ?? {});
  Object.assign(fieldsMoved.metadata, { managedFields: [{ manager: "someone" }] });
  assert.equal(writes.passNeeded(before, fieldsMoved), false, "bookkeeping alone");
  assert.equal(writes.passNeeded(before, definition("6", { ...before.status, readyReplicas: 3 })), true);
});

test("at most a few writes are kept per Definition, the oldest going first", () => {
  const writes = new OwnStatusWrites();
  for (const version of ["1", "2", "3", "4", "5"]) writes.writing(definition(version, {}), written);
  assert.equal(writes.passNeeded(definition("1", {}), definition("9", written)), true, "the oldest went");
  assert.equal(writes.passNeeded(definition("2", {}), definition("9", written)), false);
  writes.forget("team/web");
  assert.equal(writes.passNeeded(definition("3", {}), definition("9", written)), true, "forgotten");
});
