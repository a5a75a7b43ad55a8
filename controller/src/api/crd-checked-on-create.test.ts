/**
 * An Instance's template is checked like its Definition's when the Instance is created, and
 * those rules pass at once on every later write (the template is immutable): the API server
 * runs every rule of an object on every write, the agent's status writes included.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import YAML from "yaml";
import { generateCrdFiles, type Schema } from "../../../hack/generate-crds.js";
import { committedCrd, version, walk, type Crd } from "../testing/crd-schemas.js";

const CREATE_ONLY = /^oldSelf\.hasValue\(\) \|\| \((.*)\)$/s;

type Rules = NonNullable<Schema["x-kubernetes-validations"]>;

function specOf(file: string): Schema {
  const spec = version(committedCrd(file)).schema.openAPIV3Schema.properties?.spec;
  assert.ok(spec, `${file} has a spec`);
  return spec;
}

/** Every schema node below (and with) `schema` that carries rules, by path. */
function rulesBelow(schema: Schema, at: string): Map<string, Rules> {
  const found = new Map<string, Rules>();
  if (schema["x-kubernetes-validations"]) found.set(at, schema["x-kubernetes-validations"]);
  for (const [path, node] of walk(schema, at)) {
    if (node["x-kubernetes-validations"]) found.set(path, node["x-kubernetes-validations"]);
  }
  return found;
}

test("the Instance's template has the Definition's rules, each run only when the Instance is created", () => {
  const template = specOf("instance.yaml").properties?.template;
  assert.ok(template, "the Instance has spec.template");
  const definitionRules = rulesBelow(specOf("definition.yaml"), "");
  let compared = 0;
  for (const [at, rules] of rulesBelow(template, "")) {
    for (const rule of rules) {
      if (at === "" && rule.rule === "self == oldSelf") continue; // the template's immutability
      // envFrom is an atomic list: the API server pairs no old item with a new one.
      if (at.startsWith(".envFrom[]")) {
        assert.equal(rule.optionalOldSelf, undefined, `${at}: ${rule.rule}`);
        continue;
      }
      const inner = CREATE_ONLY.exec(rule.rule)?.[1];
      assert.ok(inner, `spec.template${at}: "${rule.rule}" runs only on create`);
      assert.equal(
        rule.optionalOldSelf,
        true,
        `spec.template${at}: the rule runs when there is no old value`,
      );
      if (at === "") continue; // the template's own root rule names template.*, the Definition's spec.*
      const same = (definitionRules.get(at) ?? []).find((r) => r.rule === inner);
      assert.ok(same, `spec.template${at}: the Definition's spec${at} has the rule "${inner}"`);
      assert.equal(rule.message, same.message, `spec.template${at}: the same message as the Definition's`);
      compared++;
    }
  }
  assert.ok(compared >= 15, `compared ${compared} rules with the Definition's`);
});

test("the Definition's rules and the Instance's other rules run on every write, as before", () => {
  for (const [at, rules] of rulesBelow(specOf("definition.yaml"), "spec")) {
    for (const rule of rules) assert.equal(rule.optionalOldSelf, undefined, `${at}: ${rule.rule}`);
  }
  const instance = specOf("instance.yaml");
  for (const [at, rules] of rulesBelow(instance, "spec")) {
    if (at.startsWith("spec.template")) continue;
    for (const rule of rules) {
      assert.equal(rule.optionalOldSelf, undefined, `${at}: ${rule.rule}`);
      assert.doesNotMatch(rule.rule, CREATE_ONLY, `${at}: ${rule.rule}`);
    }
  }
  assert.deepEqual(
    instance.properties?.template?.["x-kubernetes-validations"]?.find((r) => r.rule === "self == oldSelf"),
    { rule: "self == oldSelf", message: "spec.template is immutable" },
  );
});

const THING = `
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
  /**
   * part of the thing.
   * MARKER
   * @xValidation {"rule": "self == oldSelf", "message": "part is immutable"}
   */
  part: Part;
}
/**
 * Part is a part.
 * @xValidation {"rule": "has(self.name)", "message": "a part has a name"}
 */
export interface Part {
  /**
   * name of the part.
   * @xValidation {"rule": "self.size() < 9", "message": "short"}
   */
  name?: string;
  /**
   * keyed parts.
   * @listType map
   * @listMapKey key
   */
  keyed?: Item[];
  /** plain parts. */
  plain?: Item[];
}
/**
 * Item is an item.
 * @xValidation {"rule": "self.key != 'x'", "message": "not x"}
 */
export interface Item {
  /** key of the item. */
  key: string;
}
`;

test("@checkedOnCreate rewrites the rules it can pair with an old value, and only those", () => {
  const crd = YAML.parse(
    generateCrdFiles(THING.replace("MARKER", "@checkedOnCreate"), "thing.ts").get("thing.yaml") ?? "",
  ) as Crd;
  const part = version(crd).schema.openAPIV3Schema.properties?.spec?.properties?.part;
  assert.deepEqual(part?.["x-kubernetes-validations"], [
    { rule: "oldSelf.hasValue() || (has(self.name))", message: "a part has a name", optionalOldSelf: true },
    { rule: "self == oldSelf", message: "part is immutable" },
  ]);
  assert.deepEqual(part?.properties?.name?.["x-kubernetes-validations"], [
    { rule: "oldSelf.hasValue() || (self.size() < 9)", message: "short", optionalOldSelf: true },
  ]);
  assert.deepEqual(part?.properties?.keyed?.items?.["x-kubernetes-validations"], [
    { rule: "oldSelf.hasValue() || (self.key != 'x')", message: "not x", optionalOldSelf: true },
  ]);
  // An atomic list's items have no old value to pair with: their rules run on every write.
  assert.deepEqual(part?.properties?.plain?.items?.["x-kubernetes-validations"], [
    { rule: "self.key != 'x'", message: "not x" },
  ]);
});

test("@checkedOnCreate takes no value", () => {
  assert.throws(
    () => generateCrdFiles(THING.replace("MARKER", "@checkedOnCreate yes"), "thing.ts"),
    /@checkedOnCreate takes no value/,
  );
});
