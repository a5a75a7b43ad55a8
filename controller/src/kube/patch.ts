/** A JSON patch (RFC 6902) operation. */
export type JsonPatchOp =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep structural equality of JSON values; a missing key equals an undefined one. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      if (!jsonEqual(a[key], b[key])) return false;
    }
    return true;
  }
  return false;
}

/**
 * The JSON merge patch (RFC 7386) that turns `before` into `after`, or undefined when
 * nothing changed. Removed keys become null; arrays are replaced whole, as merge patch
 * requires.
 */
export function createMergePatch(before: unknown, after: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(after)) {
    throw new TypeError("createMergePatch: the target must be an object");
  }
  const base = isPlainObject(before) ? before : {};
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(base)) {
    if (base[key] !== undefined && after[key] === undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(after)) {
    if (value === undefined || jsonEqual(base[key], value)) continue;
    if (isPlainObject(value) && isPlainObject(base[key])) {
      patch[key] = createMergePatch(base[key], value) ?? {};
    } else {
      patch[key] = value;
    }
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** Escapes one JSON pointer segment (RFC 6901). */
export function pointerSegment(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}
