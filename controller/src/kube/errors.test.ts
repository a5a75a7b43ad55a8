import assert from "node:assert/strict";
import { test } from "node:test";
import {
  KubeApiError,
  getOrUndefined,
  ignoreNotFound,
  isAlreadyExists,
  isConflict,
  isNamespaceTerminating,
  isNotFound,
} from "./errors.js";

const notFound = new KubeApiError(404, 'instances.berth.dev "x" not found', { reason: "NotFound" });
const exists = new KubeApiError(409, "already exists", { reason: "AlreadyExists" });
const conflict = new KubeApiError(409, "the object has been modified", { reason: "Conflict" });

test("409 is AlreadyExists or a conflict by its reason, never both", () => {
  assert.equal(isAlreadyExists(exists), true);
  assert.equal(isConflict(exists), false);
  assert.equal(isConflict(conflict), true);
  assert.equal(isAlreadyExists(conflict), false);
  assert.equal(isNotFound(notFound), true);
});

test("getOrUndefined turns only NotFound into undefined; ignoreNotFound swallows only NotFound", async () => {
  assert.equal(await getOrUndefined(() => Promise.reject(notFound)), undefined);
  assert.equal(await getOrUndefined(() => Promise.resolve(7)), 7);
  await assert.rejects(
    getOrUndefined(() => Promise.reject(conflict)),
    conflict,
  );
  await ignoreNotFound(Promise.reject(notFound));
  await assert.rejects(ignoreNotFound(Promise.reject(exists)), exists);
});

test("a create refused in a namespace being deleted is told apart from other refusals", () => {
  const terminating = new KubeApiError(
    403,
    "unable to create new content in namespace x because it is being terminated",
    {
      reason: "Forbidden",
      details: { causes: [{ reason: "NamespaceTerminating", field: "metadata.namespace" }] },
    },
  );
  const forbidden = new KubeApiError(403, "forbidden", { reason: "Forbidden" });
  assert.equal(isNamespaceTerminating(terminating), true);
  assert.equal(isNamespaceTerminating(forbidden), false);
  assert.equal(isNamespaceTerminating(notFound), false);
});
