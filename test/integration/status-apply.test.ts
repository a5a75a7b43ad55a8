/**
 * A Definition's status has two writers: the Definition controller (every field, and the
 * conditions Ready, Progressing and Degraded) and discovery (the Published condition). Each
 * applies its own part by server-side apply under its own field manager, with no
 * resourceVersion precondition; against the real API server, neither refuses nor drops the
 * other's write, however stale the copy each writes from.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Condition, type Definition } from "../../controller/src/api/types.js";
import { DEFINITION_STATUS_MANAGER } from "../../controller/src/controllers/definition/status-write.js";
import { DISCOVERY_STATUS_MANAGER } from "../../controller/src/controllers/discovery/discovery-controller.js";
import { DEFINITIONS } from "../../controller/src/kube/resources.js";
import { ALL_FIELDS, CONDITIONS_ONLY, StatusApplier } from "../../controller/src/runtime/status-apply.js";
import { testNamespace } from "../harness/index.js";
import { client } from "./controller-fixtures.js";

const AT = "2026-03-01T12:00:00Z";

function condition(type: string, status: "True" | "False", reason: string): Condition {
  return { type, status, reason, message: `${type} ${reason}`, lastTransitionTime: AT };
}

async function definitionIn(namespace: string): Promise<Definition> {
  return await client().create(DEFINITIONS, {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { namespace, name: "web" },
    spec: { image: { name: "web:1", port: 8080 }, replicas: 1 },
  });
}

function definitionPart(round: number): NonNullable<Definition["status"]> {
  return {
    observedGeneration: 1,
    replicas: 1,
    readyReplicas: round % 2,
    readySummary: `${round % 2}/1`,
    addresses: [`http://127.0.0.1:${8000 + round}`],
    conditions: [
      condition("Ready", round % 2 ? "True" : "False", `Round${round}`),
      condition("Progressing", "True", `Round${round}`),
      condition("Degraded", "False", "AsExpected"),
    ],
  };
}

function publishedPart(round: number): NonNullable<Definition["status"]> {
  return { conditions: [condition("Published", round % 3 ? "True" : "False", `Round${round}`)] };
}

test("concurrent status writes of the Definition controller and discovery both land, none refused", async (t) => {
  const namespace = await testNamespace(t);
  // The copy both write from all along: created, no status, its first resourceVersion.
  const stale = await definitionIn(namespace);
  const definitions = new StatusApplier(client(), DEFINITION_STATUS_MANAGER, ALL_FIELDS);
  const discovery = new StatusApplier(client(), DISCOVERY_STATUS_MANAGER, CONDITIONS_ONLY);
  for (let round = 1; round <= 30; round++) {
    const [left, right] = await Promise.allSettled([
      definitions.apply(DEFINITIONS, stale, definitionPart(round)),
      discovery.apply(DEFINITIONS, stale, publishedPart(round)),
    ]);
    assert.equal(left.status, "fulfilled", `round ${round}: the Definition controller's write`);
    assert.equal(right.status, "fulfilled", `round ${round}: discovery's write`);
    const status = (await client().get(DEFINITIONS, { namespace, name: "web" })).status;
    const { conditions: mine, ...fields } = definitionPart(round);
    const { conditions: published } = publishedPart(round);
    assert.deepEqual(
      { ...status, conditions: undefined },
      { ...fields, conditions: undefined },
      `round ${round}`,
    );
    assert.deepEqual(
      [...(status?.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)),
      [...mine!, ...published!].sort((a, b) => a.type.localeCompare(b.type)),
      `round ${round}: every condition of both writers, as each last wrote it`,
    );
  }
});

test("a field the Definition controller no longer writes goes; discovery's condition stays", async (t) => {
  const namespace = await testNamespace(t);
  const stale = await definitionIn(namespace);
  const definitions = new StatusApplier(client(), DEFINITION_STATUS_MANAGER, ALL_FIELDS);
  const discovery = new StatusApplier(client(), DISCOVERY_STATUS_MANAGER, CONDITIONS_ONLY);
  await definitions.apply(DEFINITIONS, stale, { ...definitionPart(1), deploymentId: "abc" });
  await discovery.apply(DEFINITIONS, stale, publishedPart(1));
  await definitions.apply(DEFINITIONS, stale, definitionPart(2));
  const status = (await client().get(DEFINITIONS, { namespace, name: "web" })).status;
  assert.equal(status?.deploymentId, undefined, "left out by its writer: removed");
  assert.deepEqual(
    status?.conditions?.find((c) => c.type === "Published"),
    publishedPart(1).conditions![0],
  );
});

test("a status written by merge patch before is taken over, each writer its own part", async (t) => {
  const namespace = await testNamespace(t);
  const created = await definitionIn(namespace);
  // As a single merge-patch writer left it: every condition in one list, one manager.
  const before = await client().patchStatus(
    DEFINITIONS,
    { namespace, name: "web" },
    {
      status: {
        ...definitionPart(1),
        conditions: [...definitionPart(1).conditions!, ...publishedPart(1).conditions!],
      },
    },
  );
  assert.equal(before.status?.conditions?.length, 4);
  const definitions = new StatusApplier(client(), DEFINITION_STATUS_MANAGER, ALL_FIELDS);
  const discovery = new StatusApplier(client(), DISCOVERY_STATUS_MANAGER, CONDITIONS_ONLY);
  await Promise.all([
    definitions.apply(DEFINITIONS, created, definitionPart(2)),
    discovery.apply(DEFINITIONS, created, publishedPart(3)),
  ]);
  const status = (await client().get(DEFINITIONS, { namespace, name: "web" })).status;
  assert.equal(status?.readyReplicas, 0);
  assert.deepEqual(
    [...(status?.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type)),
    [...definitionPart(2).conditions!, ...publishedPart(3).conditions!].sort((a, b) =>
      a.type.localeCompare(b.type),
    ),
  );
});
