import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/resources.js";
import { mapToOwner } from "./event-mapping.js";

test("mapToOwner maps a child to its controlling owner's key", () => {
  const map = mapToOwner("Definition");
  const child: KubeObject = {
    metadata: {
      namespace: "ns",
      name: "web-1",
      ownerReferences: [
        { apiVersion: "berth.dev/v1alpha1", kind: "Definition", name: "web", uid: "u", controller: true },
      ],
    },
  };
  assert.deepEqual(map(child), ["ns/web"]);
  assert.deepEqual(map({ metadata: { namespace: "ns", name: "orphan" } }), []);
});
