import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import YAML from "yaml";
import { GenerateError, TYPES_FILE, driftedFiles, generateCrdFiles } from "../../../hack/generate-crds.js";
import { committedCrd, version, walk, type Crd } from "../testing/crd-schemas.js";

test("the committed crds/*.yaml are what controller/src/api/types.ts generates", () => {
  assert.deepEqual(driftedFiles(generateCrdFiles()), [], "run `npm run generate` and commit crds/");
});

test("a changed marker in the types is reported as drift of that kind's file", () => {
  const source = readFileSync(TYPES_FILE, "utf8");
  const changed = source.replace(
    "   * @maximum 1000\n   * @default 1\n",
    "   * @maximum 999\n   * @default 1\n",
  );
  assert.notEqual(changed, source, "the replicas marker this test edits is still in types.ts");
  assert.deepEqual(driftedFiles(generateCrdFiles(changed)), ["definition.yaml"]);
});

test("every field of every kind has a description for kubectl explain", () => {
  for (const file of ["definition.yaml", "instance.yaml", "node.yaml"]) {
    const schema = version(committedCrd(file)).schema.openAPIV3Schema;
    assert.ok(schema.description, `${file}: the kind has a description`);
    for (const [at, prop] of walk(schema, "")) {
      if (at.startsWith(".metadata")) continue; // owned by the API server
      assert.ok(prop.description && prop.description.length > 10, `${file}: ${at} has a description`);
    }
  }
});

test("the kinds have the names, scope, columns and subresources kubectl users rely on", () => {
  const definition = committedCrd("definition.yaml");
  const instance = committedCrd("instance.yaml");
  const node = committedCrd("node.yaml");
  assert.equal(definition.spec.scope, "Namespaced");
  assert.equal(instance.spec.scope, "Namespaced");
  assert.equal(node.spec.scope, "Cluster");
  for (const crd of [definition, instance, node]) {
    assert.deepEqual(crd.spec.names.categories, ["berth"], `${crd.metadata.name} is in the berth category`);
    assert.ok(version(crd).subresources?.status, `${crd.metadata.name} has the status subresource`);
  }
  // Core Kubernetes owns `no` and `node`: a Berth short name must not shadow them.
  assert.deepEqual(node.spec.names.shortNames, ["bnode", "bnodes"]);
  const columns = (crd: Crd) =>
    (version(crd).additionalPrinterColumns ?? []).filter((c) => !c.priority).map((c) => c.name);
  assert.deepEqual(columns(definition), ["Ready", "Addresses", "Age"]);
  assert.deepEqual(columns(instance), ["Definition", "Node", "Phase", "Ready", "Address", "External", "Age"]);
  assert.deepEqual(columns(node), ["URL", "Ready", "Instances", "Last Heartbeat", "Age"]);
  assert.deepEqual(version(instance).selectableFields, [
    { jsonPath: ".spec.nodeName" },
    { jsonPath: ".spec.definition" },
  ]);
});

test("the lists and strings CEL rules walk are bounded, so rule cost stays in budget", () => {
  const spec = version(committedCrd("definition.yaml")).schema.openAPIV3Schema.properties?.spec;
  const dependsOn = spec?.properties?.dependsOn;
  assert.equal(dependsOn?.["x-kubernetes-list-type"], "set");
  assert.ok(
    dependsOn?.maxItems && dependsOn.items?.maxLength,
    "dependsOn and its entries have a maximum size",
  );
  for (const [at, prop] of walk(version(committedCrd("definition.yaml")).schema.openAPIV3Schema, "")) {
    if (!prop["x-kubernetes-validations"] || prop.type !== "string") continue;
    assert.ok(prop.maxLength, `${at} has CEL rules and a maxLength`);
  }
});

const MINIMAL = `
export const GROUP = "example.dev";
export const VERSION = "v1";
/**
 * Thing is a thing.
 * @resource {"plural": "things", "scope": "Cluster"}
 */
export interface Thing {
  apiVersion: string;
  kind: "Thing";
  metadata: object;
  /** spec of the thing. */
  spec: ThingSpec;
}
/** ThingSpec is the thing's spec. */
export interface ThingSpec {
  FIELD
}
`;

function generateWithField(field: string) {
  return generateCrdFiles(MINIMAL.replace("FIELD", field), "thing.ts");
}

test("the generator turns doc comments and markers into schema keywords", () => {
  const files = generateWithField(`/**
   * size of the thing.
   * @minimum 1
   * @default 3
   */
  size?: number;
  /** mode of the thing. */
  mode: "Fast" | "Slow";`);
  const crd = YAML.parse(files.get("thing.yaml") ?? "") as Crd;
  const spec = version(crd).schema.openAPIV3Schema.properties?.spec;
  assert.deepEqual(spec?.properties?.size, {
    description: "size of the thing.",
    type: "integer",
    default: 3,
    minimum: 1,
  });
  assert.deepEqual(spec?.properties?.mode?.enum, ["Fast", "Slow"]);
  assert.deepEqual(spec?.required, ["mode"]);
  assert.equal(crd.metadata.name, "things.example.dev");
});

test("the generator refuses a field without a description, naming it", () => {
  assert.throws(
    () => generateWithField("size?: number;"),
    (err: Error) => {
      assert.ok(err instanceof GenerateError);
      assert.match(err.message, /Thing\.spec\.size: has no doc comment/);
      return true;
    },
  );
});

test("the generator refuses an unknown marker and an @enum that contradicts the type", () => {
  assert.throws(
    () => generateWithField("/**\n * size.\n * @maximun 3\n */\n size: number;"),
    /unknown marker @maximun/,
  );
  assert.throws(
    () => generateWithField('/**\n * mode.\n * @enum A|C\n */\n mode: "A" | "B";'),
    /@enum A\|C does not match/,
  );
});
