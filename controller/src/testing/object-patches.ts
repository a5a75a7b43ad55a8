/** The patches the fake API server applies: RFC 7386 merge patch and RFC 6902 JSON patch. */
import { KubeApiError } from "../kube/errors.js";
import { jsonEqual, type JsonPatchOp } from "../kube/patch.js";

export type Json = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386: null removes a key, objects merge, everything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const result: Json = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/**
 * An object after a merge patch of its status subresource: only the patch's status counts
 * (its metadata.resourceVersion is a precondition, not a change).
 */
export function withStatusPatch<T extends object>(object: T, patch: object): T {
  const status = applyMergePatch(
    (object as { status?: unknown }).status,
    (patch as { status?: unknown }).status ?? {},
  );
  return { ...object, status };
}

function pointer(path: string): string[] {
  return path
    .split("/")
    .slice(1)
    .map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** RFC 6902 for the operations the code uses (test, add, replace, remove); a failed test is 422. */
export function applyJsonPatch(target: Json, ops: readonly JsonPatchOp[]): Json {
  const doc = structuredClone(target);
  for (const op of ops) {
    const segments = pointer(op.path);
    const last = segments.pop() ?? "";
    let parent: unknown = doc;
    for (const segment of segments) parent = isPlainObject(parent) ? parent[segment] : undefined;
    if (!isPlainObject(parent)) {
      throw new KubeApiError(422, `path ${op.path} does not exist`, undefined, op.op === "test");
    }
    if (op.op === "test") {
      // As the API server does, a test for null passes on a missing path.
      const missingIsNull = op.value === null && parent[last] === undefined;
      if (!missingIsNull && !jsonEqual(parent[last], op.value)) {
        throw new KubeApiError(422, `test of ${op.path} failed`, undefined, true);
      }
    } else if (op.op === "add" || op.op === "replace") {
      if (op.op === "replace" && !(last in parent)) {
        throw new KubeApiError(422, `replace of missing ${op.path}`);
      }
      parent[last] = structuredClone(op.value);
    } else if (op.op === "remove") {
      delete parent[last];
    } else {
      throw new Error(`FakeApiServer: JSON patch op ${op.op} is not supported`);
    }
  }
  return doc;
}
