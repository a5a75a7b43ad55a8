import { createHash, createHmac } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DefinitionSpec } from "../../api/types.js";
import {
  canonicalJson,
  compareStrings,
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

test("the run template has the container's fields and nothing else, as a copy", () => {
  const spec: DefinitionSpec = {
    image: { name: "i", port: 1 },
    repository: { url: "https://example.invalid/r.git" },
    command: ["/bin/run"],
    args: ["-v"],
    env: [{ name: "A", value: "1" }],
    envFrom: [{ secretRef: { name: "s" } }],
    resources: { memory: "64Mi" },
    healthCheck: { type: "tcp" },
    replicas: 3,
    hostPort: 8080,
    dependsOn: ["db"],
    placement: { nodeSelector: { zone: "a" } },
  };
  const template = runTemplateOf(spec);
  assert.deepEqual(template, {
    image: { name: "i", port: 1 },
    repository: { url: "https://example.invalid/r.git" },
    command: ["/bin/run"],
    args: ["-v"],
    env: [{ name: "A", value: "1" }],
    envFrom: [{ secretRef: { name: "s" } }],
    resources: { memory: "64Mi" },
    healthCheck: { type: "tcp" },
  });
  template.env![0]!.value = "changed";
  assert.equal(spec.env![0]!.value, "1", "the template is a copy");
  assert.deepEqual(runTemplateOf({}), {});
});

test("a change of command, envFrom or repository rolls; a commit rolls a repository Definition", () => {
  const id = computeDeploymentId(base, none);
  assert.notEqual(computeDeploymentId({ ...base, command: ["/x"] }, none), id);
  assert.notEqual(computeDeploymentId({ ...base, envFrom: [{ configMapRef: { name: "c" } }] }, none), id);
  const repo: DefinitionSpec = { repository: { url: "https://example.invalid/r.git" } };
  assert.notEqual(
    computeDeploymentId(repo, none),
    computeDeploymentId({ repository: { url: "https://example.invalid/s.git" } }, none),
  );
  assert.notEqual(
    computeDeploymentId(repo, none, { commit: "a".repeat(40) }),
    computeDeploymentId(repo, none, { commit: "b".repeat(40) }),
  );
  assert.notEqual(
    computeDeploymentId(repo, none, { commit: "a".repeat(40) }),
    computeDeploymentId(repo, none),
  );
  assert.equal(id.length, DEPLOYMENT_ID_LENGTH);
  assert.equal(DEPLOYMENT_ID_LENGTH, 20);
});

test("a referenced object's hash, its absence and an unreferenced object's hash", () => {
  const spec: DefinitionSpec = { ...base, envFrom: [{ secretRef: { name: "s" } }] };
  const absent = computeDeploymentId(spec, none);
  assert.equal(computeDeploymentId(spec, new Map([["Secret/s", null]])), absent, "missing is missing");
  const present = computeDeploymentId(spec, new Map([["Secret/s", "h1"]]));
  assert.notEqual(present, absent);
  assert.notEqual(computeDeploymentId(spec, new Map([["Secret/s", "h2"]])), present);
  assert.equal(
    computeDeploymentId(
      spec,
      new Map([
        ["Secret/s", "h1"],
        ["Secret/other", "x"],
      ]),
    ),
    present,
    "an object the template does not reference plays no part",
  );
  assert.equal(
    computeDeploymentId(spec, new Map([["ConfigMap/s", "h1"]])),
    absent,
    "a ConfigMap of the same name is another object",
  );
});

test("contentHash: maps in order, values, keys, the salt and empty maps all count", () => {
  const other = Buffer.alloc(32, 2);
  const one = contentHash(salt, ["data", { a: "1" }]);
  assert.match(one, /^[0-9a-f]{64}$/);
  assert.notEqual(contentHash(other, ["data", { a: "1" }]), one);
  assert.notEqual(contentHash(salt, ["data", { a: "2" }]), one);
  assert.notEqual(contentHash(salt, ["data", { b: "1" }]), one);
  assert.notEqual(contentHash(salt, ["data", { a: "1", b: "" }]), one, "an empty value is a value");
  assert.equal(contentHash(salt, ["data", undefined]), contentHash(salt, ["data", {}]));
  assert.equal(contentHash(salt, ["data", {}]), contentHash(salt));
  assert.notEqual(
    contentHash(salt, ["data", { a: "1" }], ["binaryData", { b: "2" }]),
    contentHash(salt, ["data", { b: "2" }], ["binaryData", { a: "1" }]),
  );
  // The length prefix and separator keep field boundaries: these would collide unprefixed.
  assert.notEqual(contentHash(salt, ["data", { ab: "c" }]), contentHash(salt, ["data", { a: "bc" }]));
  assert.notEqual(contentHash(salt, ["da", { ta: "x" }]), contentHash(salt, ["data", { "": "x" }]));
  const expected = createHmac("sha256", salt).update("4:data;1:a;1:1;").digest("hex");
  assert.equal(one, expected, "fields are written as <bytes>:<text>;");
  const unicode = createHmac("sha256", salt).update("4:data;1:k;2:é;").digest("hex");
  assert.equal(contentHash(salt, ["data", { k: "é" }]), unicode, "lengths count bytes, not characters");
});

test("referencedObjects: none for a template without references, sorted by kind then name", () => {
  assert.deepEqual(referencedObjects({}), []);
  assert.deepEqual(
    referencedObjects({
      env: [
        { name: "A", value: "1" },
        { name: "B", valueFrom: { secretKeyRef: { name: "b", key: "k" } } },
        { name: "C", valueFrom: { secretKeyRef: { name: "a", key: "k" } } },
      ],
      envFrom: [{ configMapRef: { name: "z" } }, { secretRef: { name: "b" } }],
    }),
    [
      { kind: "ConfigMap", name: "z" },
      { kind: "Secret", name: "a" },
      { kind: "Secret", name: "b" },
    ],
  );
});

test("canonicalJson: scalars, null, arrays and nesting as JSON writes them", () => {
  assert.equal(canonicalJson(null), "null");
  assert.equal(canonicalJson(undefined), "null");
  assert.equal(canonicalJson('a"b'), '"a\\"b"');
  assert.equal(canonicalJson(1.5), "1.5");
  assert.equal(canonicalJson(true), "true");
  assert.equal(canonicalJson([]), "[]");
  assert.equal(canonicalJson({}), "{}");
  assert.equal(canonicalJson([1, [2, { b: null, a: 1 }]]), '[1,[2,{"a":1,"b":null}]]');
  assert.equal(canonicalJson({ 'b"': 1, a: undefined }), '{"b\\"":1}');
});

test("compareStrings orders by code unit, whatever the locale", () => {
  assert.equal(compareStrings("a", "b"), -1);
  assert.equal(compareStrings("b", "a"), 1);
  assert.equal(compareStrings("a", "a"), 0);
  assert.equal(compareStrings("B", "a"), -1, "upper case first");
  assert.deepEqual(["é", "z", "e", "Z"].sort(compareStrings), ["Z", "e", "z", "é"]);
});

test("two hostPorts are two deployments; no dependsOn is an empty one", () => {
  assert.notEqual(
    computeDeploymentId({ ...base, hostPort: 8080 }, none),
    computeDeploymentId({ ...base, hostPort: 8081 }, none),
  );
  assert.equal(computeDeploymentId({ ...base, dependsOn: [] }, none), computeDeploymentId(base, none));
});
