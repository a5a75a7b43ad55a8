import assert from "node:assert/strict";
import { test } from "node:test";
import type { KubeObject } from "../kube/resources.js";
import { AwaitedWrites } from "./awaited-writes.js";
import type { EventHandlers } from "./informer.js";

function informer(): {
  addHandler: (h: EventHandlers<KubeObject>) => void;
  handlers: EventHandlers<KubeObject>[];
} {
  const handlers: EventHandlers<KubeObject>[] = [];
  return { handlers, addHandler: (h) => handlers.push(h) };
}

function object(name: string, label?: string): KubeObject {
  return { metadata: { namespace: "ns", name, ...(label ? { labels: { shown: label } } : {}) } };
}

/** Writes whose lapses are logged as key=note. */
function logged(kept = 10): { writes: AwaitedWrites<string>; lapsed: string[] } {
  const lapsed: string[] = [];
  const writes = new AwaitedWrites<string>({
    ttlMs: 1000,
    kept,
    lapsed: (key, note) => lapsed.push(`${key}=${note}`),
  });
  return { writes, lapsed };
}

test("a note waits its whole time to live and lapses at the write's time plus it, not a millisecond later", () => {
  const { writes, lapsed } = logged();
  writes.wrote("ns/a", "uid-a", 500);
  writes.wrote("ns/b", "uid-b", 500);
  assert.equal(writes.waitMs("ns/a", 500), 1000, "just written: the whole time to live");
  assert.equal(writes.waitMs("ns/a", 1499), 1, "a millisecond before its end");
  assert.equal(writes.awaited("ns/a", 1499), "uid-a");
  assert.deepEqual(lapsed, [], "nothing lapsed yet");
  assert.equal(writes.awaited("ns/a", 1500), undefined, "at its end it lapsed");
  assert.equal(writes.size, 1, "and is dropped");
  assert.equal(writes.waitMs("ns/a", 1500), 0);
  assert.deepEqual(lapsed, ["ns/a=uid-a"], "a note lapses once");
  assert.equal(writes.waitMs("ns/b", 1500), 0, "waitMs lapses it as awaited does");
  assert.equal(writes.size, 0);
  assert.deepEqual(lapsed, ["ns/a=uid-a", "ns/b=uid-b"]);
});

test("a key written again waits a whole time to live from the later write, with the later note", () => {
  const { writes, lapsed } = logged();
  writes.wrote("ns/a", "first", 0);
  writes.wrote("ns/a", "second", 600);
  assert.equal(writes.size, 1);
  assert.equal(writes.awaited("ns/a", 1000), "second", "past the first write's end");
  assert.equal(writes.waitMs("ns/a", 1599), 1);
  assert.equal(writes.waitMs("ns/a", 1600), 0);
  assert.deepEqual(lapsed, ["ns/a=second"], "the replaced note did not lapse");
});

test("at most `kept` notes: one more pushes out exactly the note written longest ago", () => {
  const { writes, lapsed } = logged(2);
  writes.wrote("ns/a", "a", 0);
  writes.wrote("ns/b", "b", 1);
  assert.equal(writes.size, 2, "the bound itself is kept");
  assert.deepEqual(lapsed, []);
  writes.wrote("ns/a", "a again", 2);
  writes.wrote("ns/c", "c", 3);
  assert.equal(writes.size, 2);
  assert.deepEqual(lapsed, ["ns/b=b"], "b, written before a's second write, went");
  assert.equal(writes.awaited("ns/b", 3), undefined);
  assert.equal(writes.awaited("ns/a", 3), "a again");
  assert.equal(writes.awaited("ns/c", 3), "c");
});

test("a bound of one keeps the latest note only", () => {
  const writes = new AwaitedWrites({ ttlMs: 1000, kept: 1 });
  writes.wrote("ns/a", true, 0);
  assert.equal(writes.size, 1);
  writes.wrote("ns/b", true, 0);
  assert.equal(writes.size, 1);
  assert.equal(writes.waitMs("ns/a", 0), 0);
  assert.equal(writes.waitMs("ns/b", 0), 1000);
});

test("peek shows a note past its time without dropping it; forget drops it without a lapse", () => {
  const { writes, lapsed } = logged();
  writes.wrote("ns/a", "a", 0);
  assert.equal(writes.peek("ns/a"), "a");
  assert.equal(writes.peek("ns/other"), undefined);
  assert.equal(writes.size, 1, "peeking past the time to live drops nothing");
  writes.forget("ns/a");
  writes.forget("ns/never");
  assert.equal(writes.size, 0);
  assert.equal(writes.peek("ns/a"), undefined);
  assert.deepEqual(lapsed, [], "a forgotten note did not lapse");
});

test("observe: by default any event of the key clears its note, and only that key's", () => {
  const writes = new AwaitedWrites({ ttlMs: 1000, kept: 10 });
  const source = informer();
  writes.observe(source);
  for (const name of ["a", "b", "c", "d"]) writes.wrote(`ns/${name}`, true, 0);
  const [handlers] = source.handlers;
  handlers?.onAdd?.(object("a"));
  handlers?.onUpdate?.(object("b"), object("b"));
  handlers?.onDelete?.(object("c"));
  assert.equal(writes.size, 1);
  assert.equal(writes.waitMs("ns/d", 0), 1000, "an event of no other key clears it");
});

test("observe with a test: an add or update clears a note only when it shows the write; a delete always", () => {
  const writes = new AwaitedWrites({ ttlMs: 1000, kept: 10 });
  const source = informer();
  writes.observe(source, (o) => o.metadata?.labels?.["shown"] === "yes");
  for (const name of ["a", "b", "c"]) writes.wrote(`ns/${name}`, true, 0);
  const [handlers] = source.handlers;
  handlers?.onAdd?.(object("a", "no"));
  handlers?.onUpdate?.(object("b"), object("b", "no"));
  assert.equal(writes.size, 3, "events that do not show the write leave the notes");
  handlers?.onAdd?.(object("a", "yes"));
  handlers?.onUpdate?.(object("b", "yes"), object("b", "yes"));
  handlers?.onDelete?.(object("c", "no"));
  assert.equal(writes.size, 0);
});

test("a time to live or a bound that keeps nothing is refused", () => {
  assert.throws(() => new AwaitedWrites({ ttlMs: 0, kept: 1 }), /ttlMs/);
  assert.throws(() => new AwaitedWrites({ ttlMs: Number.NaN, kept: 1 }), /ttlMs/);
  assert.throws(() => new AwaitedWrites({ ttlMs: 1, kept: 0 }), /kept/);
  assert.throws(() => new AwaitedWrites({ ttlMs: 1, kept: 1.5 }), /kept/);
});
