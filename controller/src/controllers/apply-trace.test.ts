import assert from "node:assert/strict";
import { test } from "node:test";
import type { Definition, Instance } from "../api/types.js";
import { onStageMark, type StageMark } from "../runtime/stage-trace.js";
import { ListInformer } from "../testing/fake-informer.js";
import { ApplyTrace } from "./apply-trace.js";

const definition = (status?: Definition["status"]): Definition =>
  ({
    metadata: { name: "web", namespace: "ns" },
    spec: {},
    ...(status ? { status } : {}),
  }) as unknown as Definition;

const instance = (ready: boolean, url = "http://127.0.0.1:32768"): Instance =>
  ({
    metadata: { name: "web-abc-0", namespace: "ns" },
    spec: { definition: "web", nodeName: "node-a" },
    status: { ready, address: { host: "127.0.0.1", port: 32768, url } },
  }) as unknown as Instance;

test("the controller's stages of a new Definition: seen, Instance created, bound, address written", () => {
  const definitions = new ListInformer<Definition>();
  const instances = new ListInformer<Instance>();
  const trace = new ApplyTrace();
  trace.watch(definitions.asInformer(), instances.asInformer());
  const marks: StageMark[] = [];
  const stop = onStageMark((mark) => marks.push(mark));
  definitions.handlers.forEach((h) => h.onAdd?.(definition({ observedGeneration: 1 }))); // not new
  definitions.handlers.forEach((h) => h.onAdd?.(definition()));
  trace.instanceCreated(definition(), "web-abc-0");
  trace.definitionPassed(definition());
  trace.bound(instance(false));
  // Ready in the cache, but the status written does not list it yet: no address stage.
  instances.handlers.forEach((h) => h.onUpdate?.(instance(false), instance(true)));
  trace.statusWritten(definition(), { addresses: [] }, [instance(true)]);
  trace.statusWritten(definition(), { addresses: ["http://127.0.0.1:32768"] }, [instance(true)]);
  trace.statusWritten(definition(), { addresses: ["http://127.0.0.1:32768"] }, [instance(true)]);
  stop();
  assert.deepEqual(
    marks.map((m) => m.stage),
    ["definition_seen", "instance_created", "bound", "address_written"],
    "each once",
  );
  assert.deepEqual(marks[0], {
    stage: "definition_seen",
    namespace: "ns",
    definition: "web",
    at: marks[0]!.at,
  });
  assert.equal(marks[3]!.instance, "web-abc-0");
});
