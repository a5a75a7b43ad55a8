import assert from "node:assert/strict";
import { test } from "node:test";
import type { DefinitionStatus } from "../../api/types.js";
import { STATUS_COALESCE_MS, statusWriteDelayMs, urgentChange } from "./status-pacing.js";

const status = (
  fields: Partial<DefinitionStatus> = {},
  ready = "False/InstancesNotReady",
): DefinitionStatus => {
  const [readyStatus, reason] = ready.split("/") as ["True" | "False", string];
  return {
    observedGeneration: 1,
    deploymentId: "d1",
    readyReplicas: 1,
    addresses: ["http://a:1"],
    conditions: [
      { type: "Ready", status: readyStatus, reason, message: "1 of 3", lastTransitionTime: "t" },
      {
        type: "Progressing",
        status: "True",
        reason: "RolloutInProgress",
        message: "",
        lastTransitionTime: "t",
      },
    ],
    ...fields,
  };
};

test("urgent: what a client or a person must see at once", () => {
  const now = status();
  assert.equal(urgentChange(undefined, now), true, "no status yet");
  assert.equal(urgentChange(now, status({ observedGeneration: 2 })), true, "a new generation");
  assert.equal(urgentChange(now, status({ deploymentId: "d2" })), true, "a new deployment");
  assert.equal(urgentChange(now, status({}, "True/InstancesReady")), true, "a condition turns");
  assert.equal(urgentChange(now, status({}, "False/InstancesUnhealthy")), true, "a new reason");
  assert.equal(
    urgentChange(now, status({ conditions: now.conditions!.slice(0, 1) })),
    true,
    "a condition goes",
  );
  assert.equal(urgentChange(status({ addresses: [] }), now), true, "the first address");
  assert.equal(
    urgentChange(status({ addresses: undefined }), now),
    true,
    "the first address, none listed before",
  );
  assert.equal(urgentChange(now, status({ addresses: ["http://b:1"] })), true, "an address goes");
});

test("not urgent: progress along the way", () => {
  const now = status();
  assert.equal(urgentChange(now, status()), false, "nothing");
  assert.equal(
    urgentChange(now, status({ readyReplicas: 2, addresses: ["http://a:1", "http://b:1"] })),
    false,
    "one more address and count",
  );
  const message = status();
  message.conditions = message.conditions!.map((c) => ({ ...c, message: "2 of 3" }));
  assert.equal(urgentChange(now, message), false, "a condition's message");
  assert.equal(urgentChange(status({ addresses: [] }), status({ addresses: [] })), false, "still none");
});

test("the delay: the rest of the window after the last write, for progress only", () => {
  const now = status();
  const more = status({ readyReplicas: 2, addresses: ["http://a:1", "http://b:1"] });
  assert.equal(statusWriteDelayMs(now, more, undefined, 5000), 0, "no write lately");
  assert.equal(statusWriteDelayMs(now, more, 5000, 5000), STATUS_COALESCE_MS);
  assert.equal(statusWriteDelayMs(now, more, 5000, 5400), STATUS_COALESCE_MS - 400);
  assert.equal(statusWriteDelayMs(now, more, 5000, 5000 + STATUS_COALESCE_MS), 0, "the window passed");
  assert.equal(statusWriteDelayMs(now, more, 5000, 9000), 0, "long after");
  assert.equal(statusWriteDelayMs(now, status({ observedGeneration: 2 }), 5000, 5000), 0, "urgent");
});
