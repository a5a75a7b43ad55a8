import { test } from "node:test";
import assert from "node:assert/strict";
import type { Condition } from "../api/types.js";
import {
  MESSAGE_LIMIT,
  capMessage,
  getCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
  statusEqual,
  StatusWriter,
  toTimestamp,
} from "./conditions.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { INSTANCES } from "../kube/resources.js";
import type { Instance } from "../api/types.js";

const t0 = "2025-01-01T00:00:00Z";
const t1 = "2025-01-01T00:05:00Z";

test("setCondition keeps lastTransitionTime while the status stays, and moves it on a flip", () => {
  let conditions: Condition[] = setCondition(
    undefined,
    { type: "Ready", status: "False", reason: "A", message: "a" },
    t0,
  );
  assert.equal(conditions[0]?.lastTransitionTime, t0);
  conditions = setCondition(conditions, { type: "Ready", status: "False", reason: "B", message: "b" }, t1);
  assert.equal(conditions[0]?.lastTransitionTime, t0, "same status: time kept");
  assert.equal(conditions[0]?.reason, "B");
  conditions = setCondition(conditions, { type: "Ready", status: "True", reason: "C", message: "c" }, t1);
  assert.equal(conditions[0]?.lastTransitionTime, t1, "status flipped: time moved");
  assert.equal(conditions.length, 1);
});

test("setCondition does not modify the list it was given", () => {
  const original = Object.freeze([
    Object.freeze({ type: "Ready", status: "True", reason: "A", message: "", lastTransitionTime: t0 }),
  ]) as readonly Condition[];
  const next = setCondition(original, { type: "Ready", status: "False", reason: "B", message: "" }, t1);
  assert.equal(original[0]?.status, "True");
  assert.equal(next[0]?.status, "False");
});

test("statusEqual ignores undefined fields and compares deeply", () => {
  assert.equal(statusEqual({ a: 1, b: undefined }, { a: 1 }), true);
  assert.equal(statusEqual({ a: [1, { x: 2 }] }, { a: [1, { x: 2 }] }), true);
  assert.equal(statusEqual({ a: [1, 2] }, { a: [2, 1] }), false);
  assert.equal(statusEqual(undefined, {}), true);
});

function instance(status: Instance["status"]): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "ns", name: "i", generation: 3, resourceVersion: "7" },
    spec: { definition: "d", deploymentId: "x", template: {} },
    status,
  };
}

test("StatusWriter makes no request when the status is unchanged", async () => {
  const client = new FakeKubeClient();
  const writer = new StatusWriter(client);
  const result = await writer.update(INSTANCES, instance({ phase: "Running", observedGeneration: 3 }), {
    phase: "Running",
  });
  assert.equal(result, undefined);
  assert.equal(client.calls.length, 0);
});

test("StatusWriter patches /status with observedGeneration, removals and a resourceVersion precondition", async () => {
  const client = new FakeKubeClient();
  const writer = new StatusWriter(client);
  await writer.update(INSTANCES, instance({ phase: "Running", message: "old", observedGeneration: 2 }), {
    phase: "Failed",
  });
  assert.equal(client.calls.length, 1);
  assert.deepEqual(client.calls[0], {
    verb: "patchStatus",
    ref: { namespace: "ns", name: "i" },
    body: {
      status: { phase: "Failed", message: null, observedGeneration: 3 },
      metadata: { resourceVersion: "7" },
    },
  });
});

test("conditions are found, set, flipped and removed by type, leaving the others alone", () => {
  const ready: Condition = {
    type: "Ready",
    status: "True",
    reason: "r",
    message: "",
    lastTransitionTime: t0,
  };
  const degraded: Condition = {
    type: "Degraded",
    status: "False",
    reason: "d",
    message: "",
    lastTransitionTime: t0,
  };
  const list = [ready, degraded];
  assert.equal(getCondition(list, "Degraded"), degraded);
  assert.equal(getCondition(list, "Missing"), undefined);
  assert.equal(getCondition(undefined, "Ready"), undefined);
  assert.equal(isConditionTrue(list, "Ready"), true);
  assert.equal(isConditionTrue(list, "Degraded"), false);
  assert.equal(isConditionTrue(list, "Missing"), false);

  const flipped = setCondition(list, { type: "Degraded", status: "True", reason: "x", message: "m" }, t1);
  assert.deepEqual(flipped[0], ready, "another type is untouched");
  assert.deepEqual(flipped[1], {
    type: "Degraded",
    status: "True",
    lastTransitionTime: t1,
    reason: "x",
    message: "m",
  });
  assert.equal("observedGeneration" in flipped[1]!, false, "no observedGeneration unless given");
  const withGeneration = setCondition(
    list,
    { type: "Ready", status: "True", reason: "r", message: "", observedGeneration: 4 },
    t1,
  );
  assert.equal(withGeneration[0]?.observedGeneration, 4);
  assert.equal(withGeneration[0]?.lastTransitionTime, t0);
  const added = setCondition(list, { type: "Progressing", status: "True", reason: "p", message: "" }, t1);
  assert.deepEqual(
    added.map((c) => c.type),
    ["Ready", "Degraded", "Progressing"],
  );

  assert.deepEqual(removeCondition(list, "Ready"), [degraded]);
  assert.deepEqual(removeCondition(undefined, "Ready"), []);
  assert.equal(toTimestamp(Date.parse("2025-01-01T00:00:00.123Z")), "2025-01-01T00:00:00Z");
  assert.equal(toTimestamp("2025-01-01T00:00:00.000Z"), t0);
});

test("a long message keeps its start and its end, says how much was cut, and fits the limit", () => {
  const text = `step 4 failed:\n${"chatter\n".repeat(12_800)}error: the real cause`;
  const capped = capMessage(text);
  assert.ok(capped.length <= MESSAGE_LIMIT, `${capped.length}`);
  assert.ok(capped.startsWith("step 4 failed:"));
  assert.ok(capped.endsWith("error: the real cause"));
  assert.match(capped, /… \[\d+ characters cut\] …/);
  assert.equal(capMessage("short"), "short");
  const condition = setCondition(
    undefined,
    { type: "Ready", status: "False", reason: "R", message: text },
    0,
  );
  assert.equal(condition[0]?.message, capped, "conditions are capped when they are set");
});

test("StatusWriter can leave out the precondition and observedGeneration, and returns what the server answered", async () => {
  const client = new FakeKubeClient();
  const writer = new StatusWriter(client);
  const answer = await writer.update(
    INSTANCES,
    instance({ phase: "Running" }),
    { phase: "Failed" },
    {
      precondition: false,
      observedGeneration: false,
    },
  );
  assert.deepEqual(client.calls[0]?.body, { status: { phase: "Failed" } });
  assert.deepEqual(answer, { status: { phase: "Failed" } }, "the fake answers with what it was sent");
  await writer.update(INSTANCES, instance({ phase: "Running" }), { phase: "Failed" }, { precondition: true });
  assert.deepEqual(client.calls[1]?.body, {
    status: { phase: "Failed", observedGeneration: 3 },
    metadata: { resourceVersion: "7" },
  });
});

test("StatusWriter writes no observedGeneration or precondition an object does not carry", async () => {
  const client = new FakeKubeClient();
  const writer = new StatusWriter(client);
  const bare: Instance = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { name: "cluster-wide" },
    spec: { definition: "d", deploymentId: "x", template: {} },
  };
  await writer.update(INSTANCES, bare, { phase: "Pending" });
  assert.deepEqual(client.calls[0], {
    verb: "patchStatus",
    ref: { namespace: undefined, name: "cluster-wide" },
    body: { status: { phase: "Pending" } },
  });
  const unnamed = { ...bare, metadata: {} };
  await writer.update(INSTANCES, unnamed, { phase: "Pending" });
  assert.deepEqual(client.calls[1]?.ref, { namespace: undefined, name: "" });
});

test("setCondition takes a new condition's own lastTransitionTime, but not over an unchanged status", () => {
  const fresh = setCondition(
    [],
    { type: "Ready", status: "True", reason: "r", message: "", lastTransitionTime: t0 },
    t1,
  );
  assert.equal(fresh[0]?.lastTransitionTime, t0);
  const flipped = setCondition(
    fresh,
    { type: "Ready", status: "False", reason: "r", message: "", lastTransitionTime: t0 },
    t1,
  );
  assert.equal(flipped[0]?.lastTransitionTime, t0, "a flip takes the given time when there is one");
  const kept = setCondition(
    [{ type: "Ready", status: "True", reason: "r", message: "", lastTransitionTime: t0 }],
    { type: "Ready", status: "True", reason: "r2", message: "", lastTransitionTime: t1 },
    t1,
  );
  assert.equal(kept[0]?.lastTransitionTime, t0, "the status did not flip: the old time stays");
  assert.equal(kept.length, 1);
});

test("timestamps are read from dates, numbers and strings, to whole seconds", () => {
  assert.equal(toTimestamp(new Date("2025-01-01T00:00:00.999Z")), t0);
  assert.equal(toTimestamp(Date.parse(t1)), t1);
  assert.equal(toTimestamp("2025-01-01T00:05:00.5Z"), t1);
  assert.equal(statusEqual({ a: 1 }, undefined), false);
  assert.equal(statusEqual(undefined, undefined), true);
  assert.equal(statusEqual({ a: 1 }, { a: 2 }), false);
});

test("a condition further down the list keeps its time while its status stays", () => {
  const list = setCondition(
    setCondition([], { type: "Ready", status: "True", reason: "r", message: "" }, t0),
    { type: "Degraded", status: "False", reason: "d", message: "" },
    t0,
  );
  const again = setCondition(list, { type: "Degraded", status: "False", reason: "d2", message: "" }, t1);
  assert.equal(again[1]?.lastTransitionTime, t0);
  assert.equal(again[1]?.reason, "d2");
});
