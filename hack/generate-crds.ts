/**
 * Generates crds/*.yaml from the API types in controller/src/api/types.ts, the way
 * kubebuilder's `make manifests` does from Go types: doc comments become descriptions
 * (`kubectl explain`), markers in doc comments become schema keywords.
 *
 *   tsx hack/generate-crds.ts            # write crds/*.yaml
 *   tsx hack/generate-crds.ts --verify   # exit 1 naming every file that drifted
 *
 * Roots are the interfaces carrying a `@resource` marker; everything they reach through
 * `spec` and `status` is turned into a structural schema. The reader works on the syntax
 * tree only, so the types file must stay self-contained: interfaces, type aliases,
 * literal unions, arrays, `Record<string, T>` and string/number/boolean. `@patternOf NAME`
 * takes a pattern the code also parses with, from controller/src/api/quantity.ts.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import YAML from "yaml";
import * as quantity from "../controller/src/api/quantity.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const TYPES_FILE = path.join(ROOT, "controller/src/api/types.ts");
export const CRD_DIR = path.join(ROOT, "crds");

/** A JSON schema node as the apiextensions.k8s.io/v1 API accepts it. */
export interface Schema {
  description?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-map-type"?: string;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: ValidationRule[];
}

interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

interface Marker {
  name: string;
  value: string;
}

interface Doc {
  description: string;
  markers: Marker[];
}

/** The output key order, so regenerating never reorders a file. */
const KEY_ORDER: readonly string[] = [
  "description",
  "type",
  "format",
  "enum",
  "default",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "items",
  "properties",
  "required",
  "additionalProperties",
  "x-kubernetes-int-or-string",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-map-type",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-validations",
];

const NUMBER_MARKERS = new Set([
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
]);

/** Markers only a root (`@resource`) interface may carry. */
const RESOURCE_MARKERS = new Set(["resource", "printerColumn", "selectableField"]);

export class GenerateError extends Error {}

/** Splits a `/** ... *\/` comment into description paragraphs and `@marker value` lines. */
function parseDocComment(raw: string): Doc {
  const lines = raw
    .replace(/^\/\*\*/, "")
    .replace(/\*\/$/, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\*? ?/, "").trimEnd());
  const markers: Marker[] = [];
  const paragraphs: string[][] = [[]];
  for (const line of lines) {
    const marker = /^@([A-Za-z][\w:]*)\s*(.*)$/.exec(line.trim());
    if (marker) {
      markers.push({ name: marker[1] ?? "", value: (marker[2] ?? "").trim() });
    } else if (line.trim() === "") {
      if (paragraphs[paragraphs.length - 1]?.length) paragraphs.push([]);
    } else {
      paragraphs[paragraphs.length - 1]?.push(line.trim());
    }
  }
  const description = paragraphs
    .filter((p) => p.length > 0)
    .map((p) => p.join(" "))
    .join("\n\n");
  return { description, markers };
}

/** A type-level doc says what the thing is; it fills in when a field has no comment of its own. */
class TypesFile {
  readonly interfaces = new Map<string, ts.InterfaceDeclaration>();
  readonly aliases = new Map<string, ts.TypeAliasDeclaration>();
  readonly constants = new Map<string, string>();

  constructor(
    readonly source: ts.SourceFile,
    readonly fileLabel: string,
  ) {
    for (const statement of source.statements) {
      if (ts.isInterfaceDeclaration(statement)) this.interfaces.set(statement.name.text, statement);
      else if (ts.isTypeAliasDeclaration(statement)) this.aliases.set(statement.name.text, statement);
      else if (ts.isVariableStatement(statement)) {
        for (const decl of statement.declarationList.declarations) {
          if (ts.isIdentifier(decl.name) && decl.initializer && ts.isStringLiteral(decl.initializer)) {
            this.constants.set(decl.name.text, decl.initializer.text);
          }
        }
      }
    }
  }

  doc(node: ts.Node): Doc {
    const ranges = ts.getLeadingCommentRanges(this.source.text, node.getFullStart()) ?? [];
    const jsdoc = ranges.filter((r) => this.source.text.startsWith("/**", r.pos)).pop();
    if (!jsdoc) return { description: "", markers: [] };
    return parseDocComment(this.source.text.slice(jsdoc.pos, jsdoc.end));
  }

  constant(name: string): string {
    const value = this.constants.get(name);
    if (value === undefined) throw new GenerateError(`${this.fileLabel}: no string constant ${name}`);
    return value;
  }
}

function fail(where: string, problem: string): never {
  throw new GenerateError(`${where}: ${problem}`);
}

function parseJson(where: string, marker: Marker): unknown {
  try {
    return JSON.parse(marker.value);
  } catch (err) {
    return fail(where, `@${marker.name} needs JSON (${(err as Error).message}): ${marker.value}`);
  }
}

function applyMarker(schema: Schema, marker: Marker, where: string): void {
  const { name, value } = marker;
  if (name.startsWith("items:")) {
    if (!schema.items) fail(where, `@${name} on a field that is not a list`);
    applyMarker(schema.items, { name: name.slice("items:".length), value }, `${where}[]`);
    return;
  }
  if (NUMBER_MARKERS.has(name)) {
    const n = Number(value);
    if (value === "" || !Number.isFinite(n)) fail(where, `@${name} needs a number, got "${value}"`);
    (schema as Record<string, unknown>)[name] = n;
    return;
  }
  switch (name) {
    case "patternOf": {
      const pattern = (quantity as Record<string, unknown>)[value];
      if (!value.endsWith("_PATTERN") || typeof pattern !== "string")
        fail(where, `@patternOf ${value}: api/quantity.ts exports no such pattern`);
      schema.pattern = pattern;
      return;
    }
    case "pattern":
    case "format":
      if (value === "") fail(where, `@${name} needs a value`);
      schema[name] = value;
      return;
    case "default":
      schema.default = parseJson(where, marker);
      return;
    case "enum": {
      const values = value.split("|").map((v) => v.trim());
      if (schema.enum && JSON.stringify(schema.enum) !== JSON.stringify(values)) {
        fail(where, `@enum ${value} does not match the field's type (${schema.enum.join("|")})`);
      }
      schema.enum = values;
      return;
    }
    case "intOrString":
      delete schema.type;
      schema["x-kubernetes-int-or-string"] = true;
      return;
    case "preserveUnknown":
      schema["x-kubernetes-preserve-unknown-fields"] = true;
      return;
    case "mapType":
      schema["x-kubernetes-map-type"] = value;
      return;
    case "listType":
      schema["x-kubernetes-list-type"] = value;
      return;
    case "listMapKey":
      (schema["x-kubernetes-list-map-keys"] ??= []).push(value);
      return;
    case "xValidation": {
      const rule = parseJson(where, marker) as ValidationRule;
      if (typeof rule !== "object" || rule === null || typeof rule.rule !== "string") {
        fail(where, `@xValidation needs an object with a "rule"`);
      }
      (schema["x-kubernetes-validations"] ??= []).push(rule);
      return;
    }
    default:
      fail(where, `unknown marker @${name}`);
  }
}

function applyMarkers(schema: Schema, markers: Marker[], where: string): void {
  for (const marker of markers) {
    if (RESOURCE_MARKERS.has(marker.name)) fail(where, `@${marker.name} belongs on a @resource interface`);
    applyMarker(schema, marker, where);
  }
}

function literalUnion(node: ts.UnionTypeNode): string[] | undefined {
  const values: string[] = [];
  for (const member of node.types) {
    if (!ts.isLiteralTypeNode(member) || !ts.isStringLiteral(member.literal)) return undefined;
    values.push(member.literal.text);
  }
  return values;
}

class SchemaBuilder {
  constructor(private readonly file: TypesFile) {}

  /** The schema of a type, with the doc of the named type it refers to (if any). */
  typeSchema(node: ts.TypeNode, where: string): { schema: Schema; typeDoc: Doc } {
    const none: Doc = { description: "", markers: [] };
    switch (node.kind) {
      case ts.SyntaxKind.StringKeyword:
        return { schema: { type: "string" }, typeDoc: none };
      case ts.SyntaxKind.NumberKeyword:
        // Kubernetes APIs avoid floats: every number in the API is a whole number.
        return { schema: { type: "integer" }, typeDoc: none };
      case ts.SyntaxKind.BooleanKeyword:
        return { schema: { type: "boolean" }, typeDoc: none };
    }
    if (ts.isParenthesizedTypeNode(node)) return this.typeSchema(node.type, where);
    if (ts.isTypeQueryNode(node)) return { schema: { type: "string" }, typeDoc: none };
    if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) {
      return { schema: { type: "string", enum: [node.literal.text] }, typeDoc: none };
    }
    if (ts.isUnionTypeNode(node)) {
      const values = literalUnion(node);
      if (!values) fail(where, "only unions of string literals are supported");
      return { schema: { type: "string", enum: values }, typeDoc: none };
    }
    if (ts.isArrayTypeNode(node)) {
      const item = this.typeSchema(node.elementType, `${where}[]`);
      const items = item.schema;
      if (item.typeDoc.description && !items.description) items.description = item.typeDoc.description;
      return { schema: { type: "array", items }, typeDoc: none };
    }
    if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
      const name = node.typeName.text;
      if (name === "Record") {
        const [key, value] = node.typeArguments ?? [];
        if (!key || !value || key.kind !== ts.SyntaxKind.StringKeyword) {
          fail(where, "only Record<string, T> is supported");
        }
        return {
          schema: { type: "object", additionalProperties: this.typeSchema(value, `${where}{}`).schema },
          typeDoc: none,
        };
      }
      const iface = this.file.interfaces.get(name);
      if (iface) {
        const typeDoc = this.file.doc(iface);
        const schema = this.objectSchema(iface, where);
        applyMarkers(schema, typeDoc.markers, `${where} (${name})`);
        return { schema, typeDoc };
      }
      const alias = this.file.aliases.get(name);
      if (alias) {
        const typeDoc = this.file.doc(alias);
        const inner = this.typeSchema(alias.type, where);
        applyMarkers(inner.schema, typeDoc.markers, `${where} (${name})`);
        return { schema: inner.schema, typeDoc: typeDoc.description ? typeDoc : inner.typeDoc };
      }
      fail(where, `type ${name} is not declared in the types file`);
    }
    return fail(where, `unsupported type ${ts.SyntaxKind[node.kind]}`);
  }

  /** An object schema from an interface's properties; every field must say what it is. */
  objectSchema(iface: ts.InterfaceDeclaration, where: string): Schema {
    const properties: Record<string, Schema> = {};
    const required: string[] = [];
    for (const member of iface.members) {
      if (!ts.isPropertySignature(member) || !member.type) {
        fail(`${where} (${iface.name.text})`, "only plain property signatures are supported");
      }
      const name = member.name.getText(this.file.source);
      const fieldWhere = `${where}.${name}`;
      const fieldDoc = this.file.doc(member);
      const { schema, typeDoc } = this.typeSchema(member.type, fieldWhere);
      applyMarkers(schema, fieldDoc.markers, fieldWhere);
      const description = fieldDoc.description || typeDoc.description;
      if (!description) fail(fieldWhere, "has no doc comment; every field needs a description");
      properties[name] = { ...schema, description };
      if (!member.questionToken) required.push(name);
    }
    const schema: Schema = { type: "object", properties };
    if (required.length > 0) schema.required = required;
    return schema;
  }
}

interface ResourceMarker {
  plural: string;
  singular?: string;
  scope: "Namespaced" | "Cluster";
  shortNames?: string[];
  categories?: string[];
}

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

const STANDARD_FIELDS: Record<string, Schema> = {
  apiVersion: {
    description:
      "apiVersion is the versioned schema of this representation of an object. Servers convert " +
      "recognized schemas to the latest internal value and may reject unrecognized values.",
    type: "string",
  },
  kind: {
    description:
      "kind is the REST resource this object represents, in CamelCase. Servers infer it from " +
      "the endpoint the client submits requests to.",
    type: "string",
  },
  // The API server owns metadata's schema; only name may be declared, so that root rules
  // about the name can point their fieldPath at it.
  metadata: { type: "object", properties: { name: { type: "string" } } },
};

function crdFor(file: TypesFile, builder: SchemaBuilder, iface: ts.InterfaceDeclaration): object {
  const kind = iface.name.text;
  const doc = file.doc(iface);
  const group = file.constant("GROUP");
  const version = file.constant("VERSION");
  let resource: ResourceMarker | undefined;
  const columns: PrinterColumn[] = [];
  const selectableFields: { jsonPath: string }[] = [];
  const rootMarkers: Marker[] = [];
  for (const marker of doc.markers) {
    if (marker.name === "resource") resource = parseJson(kind, marker) as ResourceMarker;
    else if (marker.name === "printerColumn") columns.push(parseJson(kind, marker) as PrinterColumn);
    else if (marker.name === "selectableField") selectableFields.push({ jsonPath: marker.value });
    else rootMarkers.push(marker);
  }
  if (!resource) return fail(kind, "missing @resource");
  if (!doc.description) fail(kind, "has no doc comment; the kind needs a description");

  const properties: Record<string, Schema> = { ...STANDARD_FIELDS };
  const required: string[] = [];
  for (const member of iface.members) {
    if (!ts.isPropertySignature(member) || !member.type) fail(kind, "only property signatures");
    const name = member.name.getText(file.source);
    if (name in STANDARD_FIELDS) continue;
    const fieldDoc = file.doc(member);
    const { schema, typeDoc } = builder.typeSchema(member.type, `${kind}.${name}`);
    applyMarkers(schema, fieldDoc.markers, `${kind}.${name}`);
    const description = fieldDoc.description || typeDoc.description;
    if (!description) fail(`${kind}.${name}`, "has no doc comment; every field needs a description");
    properties[name] = { ...schema, description };
    if (!member.questionToken) required.push(name);
  }
  const root: Schema = { description: doc.description, type: "object", properties, required };
  applyMarkers(root, rootMarkers, kind);

  const singular = resource.singular ?? kind.toLowerCase();
  const names: Record<string, unknown> = {
    kind,
    listKind: `${kind}List`,
    plural: resource.plural,
    singular,
  };
  if (resource.shortNames) names.shortNames = resource.shortNames;
  if (resource.categories) names.categories = resource.categories;

  const versionEntry: Record<string, unknown> = { name: version, served: true, storage: true };
  if (properties.status) versionEntry.subresources = { status: {} };
  if (columns.length > 0) versionEntry.additionalPrinterColumns = columns;
  if (selectableFields.length > 0) versionEntry.selectableFields = selectableFields;
  versionEntry.schema = { openAPIV3Schema: ordered(root) };

  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${resource.plural}.${group}` },
    spec: { group, names, scope: resource.scope, versions: [versionEntry] },
  };
}

/** Copies a schema with its keys in KEY_ORDER, recursively. */
function ordered(schema: Schema): Schema {
  const out: Record<string, unknown> = {};
  const rank = (k: string) => (KEY_ORDER.includes(k) ? KEY_ORDER.indexOf(k) : KEY_ORDER.length);
  for (const key of Object.keys(schema).sort((a, b) => rank(a) - rank(b))) {
    const value = (schema as Record<string, unknown>)[key];
    if (key === "properties") {
      const props: Record<string, Schema> = {};
      for (const [name, prop] of Object.entries(value as Record<string, Schema>)) props[name] = ordered(prop);
      out[key] = props;
    } else if (key === "items" || key === "additionalProperties") {
      out[key] = ordered(value as Schema);
    } else {
      out[key] = value;
    }
  }
  return out as Schema;
}

const HEADER =
  "# Generated by hack/generate-crds.ts from controller/src/api/types.ts: do not edit.\n" +
  "# Change the types and their doc comments, then run `npm run generate`.\n";

/** Every CRD file the types produce, as file name (in crds/) -> YAML text. */
export function generateCrdFiles(
  sourceText: string = readFileSync(TYPES_FILE, "utf8"),
  fileLabel = "controller/src/api/types.ts",
): Map<string, string> {
  const source = ts.createSourceFile(fileLabel, sourceText, ts.ScriptTarget.ES2022, true);
  const file = new TypesFile(source, fileLabel);
  const builder = new SchemaBuilder(file);
  const files = new Map<string, string>();
  for (const iface of file.interfaces.values()) {
    if (!file.doc(iface).markers.some((m) => m.name === "resource")) continue;
    const crd = crdFor(file, builder, iface);
    const text = YAML.stringify(crd, { lineWidth: 100, aliasDuplicateObjects: false });
    files.set(`${iface.name.text.toLowerCase()}.yaml`, HEADER + text);
  }
  if (files.size === 0) fail(fileLabel, "no interface carries @resource");
  // A kustomization beside the CRDs so manifests/ (and `kubectl apply -k crds/`) can take them whole.
  const kustomization = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources: [...files.keys()].sort(),
  };
  files.set("kustomization.yaml", HEADER + YAML.stringify(kustomization));
  return files;
}

/** The files in dir that differ from (or are missing against, or are extra to) the generated ones. */
export function driftedFiles(generated: Map<string, string>, dir: string = CRD_DIR): string[] {
  const drifted: string[] = [];
  const present = new Set(readdirSync(dir).filter((f) => f.endsWith(".yaml")));
  for (const [name, text] of generated) {
    const committed = present.has(name) ? readFileSync(path.join(dir, name), "utf8") : undefined;
    if (committed !== text) drifted.push(name);
  }
  for (const name of present) if (!generated.has(name)) drifted.push(name);
  return drifted.sort();
}

function main(argv: string[]): number {
  const verify = argv.includes("--verify");
  const generated = generateCrdFiles();
  const relDir = path.relative(process.cwd(), CRD_DIR) || ".";
  if (verify) {
    const drifted = driftedFiles(generated);
    for (const name of drifted) {
      console.error(
        `${path.join(relDir, name)} does not match controller/src/api/types.ts: run \`npm run generate\``,
      );
    }
    return drifted.length > 0 ? 1 : 0;
  }
  for (const [name, text] of generated) {
    writeFileSync(path.join(CRD_DIR, name), text);
    console.log(`wrote ${path.join(relDir, name)}`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof GenerateError)) throw err;
    console.error(`generate-crds: ${err.message}`);
    process.exitCode = 2;
  }
}
