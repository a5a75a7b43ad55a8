import assert from "node:assert/strict";
import { test } from "node:test";
import { API_VERSION, type Definition } from "../../api/types.js";
import type { EventHandlers } from "../../runtime/informer.js";
import { FinalizerWrites } from "./finalizer-writes.js";

const FINALIZER = "berth.dev/test";

function definition(uid: string, finalizers?: string[]): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { namespace: "team", name: "web", uid, ...(finalizers ? { finalizers } : {}) },
    spec: { image: { name: "registry.invalid/web:1", port: 8080 } },
  };
}

function setup(): { writes: FinalizerWrites; handler: EventHandlers<Definition> } {
  let handler: EventHandlers<Definition> | undefined;
  const definitions = {
    addHandler: (handlers: EventHandlers<Definition>): void => {
      handler = handlers;
    },
  };
  const writes = new FinalizerWrites(definitions, FINALIZER, 1000);
  return { writes, handler: handler! };
}

test("a finalizer patch counts as on until the cache shows it", () => {
  const { writes, handler } = setup();
  assert.equal(writes.onOrOnItsWay(definition("u1"), 0), false, "nothing sent yet");
  writes.wrote(definition("u1", [FINALIZER]), 0);
  assert.equal(writes.onOrOnItsWay(definition("u1"), 10), true);
  handler.onUpdate?.(definition("u1"), definition("u1", [FINALIZER]));
  assert.equal(writes.size, 0, "the cache shows it");
  assert.equal(writes.onOrOnItsWay(definition("u1", [FINALIZER]), 20), true);
  assert.equal(writes.onOrOnItsWay(definition("u1"), 20), false, "taken off later: put on again");
});

test("a note is for one object, and only for a while", () => {
  const { writes } = setup();
  writes.wrote(definition("u1", [FINALIZER]), 0);
  assert.equal(writes.onOrOnItsWay(definition("u2"), 10), false, "a new object of the same name");
  writes.wrote(definition("u1", [FINALIZER]), 0);
  assert.equal(writes.onOrOnItsWay(definition("u1"), 1000), false, "its event never came");
  assert.equal(writes.size, 0);
});
