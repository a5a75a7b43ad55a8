import { createHash } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec } from "../../api/types.js";
import {
  canonicalJson,
  computeDeploymentId,
  contentHash,
  DEPLOYMENT_ID_LENGTH,
  referencedObjects,
  runTemplateOf,
} from "./deployment-id.js";

const base: DefinitionSpec = {
  image: { name: "berth-test/echo:1", port: 8080 },
  replicas: 2,
  env: [{ name: "A", value: "1" }],
};
const none = new Map<string, string | null>();
const salt = Buffer.alloc(32, 1);

test("the same spec gives the same id, whatever the key order", () => {
  const reordered: DefinitionSpec = {
    env: [{ value: "1", name: "A" }],
    replicas: 2,
    image: { port: 8080, name: "berth-test/echo:1" },
  };
  const id = computeDeploymentId(base, none);
  assert.equal(id, computeDeploymentId(reordered, none));
  assert.match(id, new RegExp(`^[0-9a-f]{${DEPLOYMENT_ID_LENGTH}}$`));
});

const changes: Array<{ name: string; spec: DefinitionSpec; rolls: boolean }> = [
  { name: "image", spec: { ...base, image: { name: "berth-test/echo:2", port: 8080 } }, rolls: true },
  { name: "port", spec: { ...base, image: { name: "berth-test/echo:1", port: 9090 } }, rolls: true },
  { name: "env value", spec: { ...base, env: [{ name: "A", value: "2" }] }, rolls: true },
  { name: "hostPort", spec: { ...base, hostPort: 8080 }, rolls: true },
  { name: "args", spec: { ...base, args: ["-v"] }, rolls: true },
  { name: "resources", spec: { ...base, resources: { memory: "64Mi" } }, rolls: true },
  { name: "healthCheck", spec: { ...base, healthCheck: { type: "tcp" } }, rolls: true },
  { name: "dependsOn", spec: { ...base, dependsOn: ["db"] }, rolls: true },
  { name: "replicas", spec: { ...base, replicas: 5 }, rolls: false },
  { name: "placement", spec: { ...base, placement: { nodeSelector: { zone: "a" } } }, rolls: false },
  { name: "rollout", spec: { ...base, rollout: { strategy: "Recreate" } }, rolls: false },
  {
    name: "endpoints",
    spec: { ...base, endpoints: [{ type: "openapi", url: "/openapi.json" }] },
    rolls: false,
  },
];

for (const change of changes) {
  test(`a change of ${change.name} ${change.rolls ? "changes" : "keeps"} the deploymentId`, () => {
    const changed = computeDeploymentId(change.spec, none) !== computeDeploymentId(base, none);
    assert.equal(changed, change.rolls);
  });
}

test("dependsOn order and repeats do not matter", () => {
  assert.equal(
    computeDeploymentId({ ...base, dependsOn: ["b", "a"] }, none),
    computeDeploymentId({ ...base, dependsOn: ["a", "b", "a"] }, none),
  );
});

test("a referenced Secret's content takes part through its hash, never its data", () => {
  const spec: DefinitionSpec = {
    ...base,
    env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } }],
  };
  const v1 = new Map([["Secret/creds", contentHash(salt, ["data", { token: "czNjcjN0" }])]]);
  const v2 = new Map([["Secret/creds", contentHash(salt, ["data", { token: "b3RoZXI=" }])]]);
  assert.notEqual(computeDeploymentId(spec, v1), computeDeploymentId(spec, v2));
  assert.notEqual(
    computeDeploymentId(spec, v1),
    computeDeploymentId(spec, none),
    "missing differs from present",
  );
  // Content of objects the spec does not reference is ignored.
  const unrelated = new Map([["Secret/other", "x"]]);
  assert.equal(computeDeploymentId(spec, none), computeDeploymentId(spec, unrelated));
});

test("the same Secret in two installations (two salts) gives different deploymentIds", () => {
  const spec: DefinitionSpec = {
    ...base,
    env: [{ name: "PIN", valueFrom: { secretKeyRef: { name: "pin", key: "pin" } } }],
  };
  const data = { pin: Buffer.from("1234").toString("base64") };
  const otherSalt = Buffer.alloc(32, 2);
  const inFirst = computeDeploymentId(spec, new Map([["Secret/pin", contentHash(salt, ["data", data])]]));
  const inSecond = computeDeploymentId(
    spec,
    new Map([["Secret/pin", contentHash(otherSalt, ["data", data])]]),
  );
  assert.notEqual(inFirst, inSecond);
  // Within one installation the id is stable, and a guess checked without the salt misses.
  assert.equal(
    inFirst,
    computeDeploymentId(spec, new Map([["Secret/pin", contentHash(salt, ["data", data])]])),
  );
  const unsalted = createHash("sha256");
  for (const field of ["data", "pin", data.pin]) unsalted.update(`${Buffer.byteLength(field)}:${field};`);
  assert.notEqual(
    inFirst,
    computeDeploymentId(spec, new Map([["Secret/pin", unsalted.digest("hex")]])),
    "the old unsalted hash of the right value must not reproduce the id",
  );
});

test("contentHash ignores key order and tells data from binaryData", () => {
  assert.equal(
    contentHash(salt, ["data", { a: "1", b: "2" }]),
    contentHash(salt, ["data", { b: "2", a: "1" }]),
  );
  assert.notEqual(contentHash(salt, ["data", { a: "1" }]), contentHash(salt, ["binaryData", { a: "1" }]));
  assert.notEqual(contentHash(salt, ["data", { a: "1b" }]), contentHash(salt, ["data", { a1: "b" }]));
  assert.ok(!contentHash(salt, ["data", { a: "secret-value" }]).includes("secret-value"));
});

test("referencedObjects lists Secrets and ConfigMaps once each, sorted", () => {
  const refs = referencedObjects(
    runTemplateOf({
      ...base,
      image: { name: "x", port: 1, pullSecret: "registry" },
      env: [
        { name: "A", valueFrom: { configMapKeyRef: { name: "cfg", key: "a" } } },
        { name: "B", valueFrom: { secretKeyRef: { name: "creds", key: "b" } } },
      ],
      envFrom: [{ configMapRef: { name: "cfg" } }, { secretRef: { name: "another" } }],
    }),
  );
  assert.deepEqual(refs, [
    { kind: "ConfigMap", name: "cfg" },
    { kind: "Secret", name: "another" },
    { kind: "Secret", name: "creds" },
  ]);
});

test("canonicalJson sorts keys and drops undefined members", () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: undefined, c: "x" }] }), '{"a":[{"c":"x"}],"b":1}');
});
