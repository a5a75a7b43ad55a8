/** The committed CRDs, read as the API server gets them: for tests that check a field's schema. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { CRD_DIR, type Schema } from "../../../hack/generate-crds.js";

export interface Crd {
  metadata: { name: string };
  spec: {
    scope: string;
    names: { kind: string; plural: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      subresources?: { status?: object };
      additionalPrinterColumns?: { name: string; jsonPath: string; priority?: number }[];
      selectableFields?: { jsonPath: string }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

export function committedCrd(file: string): Crd {
  return YAML.parse(readFileSync(path.join(CRD_DIR, file), "utf8")) as Crd;
}

export function version(crd: Crd) {
  const v = crd.spec.versions[0];
  assert.ok(v, `${crd.metadata.name} has a version`);
  return v;
}

/** Every property below the root, with its path, so a test can check each field. */
export function* walk(schema: Schema, at: string): Generator<[string, Schema]> {
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    yield [`${at}.${name}`, prop];
    yield* walk(prop, `${at}.${name}`);
  }
  if (schema.items) yield* walk(schema.items, `${at}[]`);
  if (schema.additionalProperties) yield* walk(schema.additionalProperties, `${at}{}`);
}
