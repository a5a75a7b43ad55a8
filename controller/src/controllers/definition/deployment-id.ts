/**
 * The deploymentId: a stable hash of everything that changes how a Definition's container
 * runs. Instances carry it, so a new id means new Instances (a rollout) and an unchanged id
 * means the running ones stay. Replicas, placement, rollout settings, endpoints and client
 * libraries do not change a container and are left out.
 *
 * Secrets and ConfigMaps referenced through env/envFrom take part through an HMAC of their
 * data keyed by the installation's deployment salt (deployment-salt.ts): editing a
 * referenced Secret rolls the Instances, the id never carries the data, and without the
 * salt nobody can test guesses of a Secret's value against a (public) deploymentId.
 */
import { createHash, createHmac } from "node:crypto";
import type { DefinitionSpec, RunTemplate } from "../../api/types.js";

/** Length of a deploymentId: 20 hex digits (80 bits) of a SHA-256. */
export const DEPLOYMENT_ID_LENGTH = 20;

export type ReferencedKind = "Secret" | "ConfigMap";

/** A Secret or ConfigMap a run template reads, in the Definition's namespace. */
export interface ObjectReference {
  kind: ReferencedKind;
  name: string;
}

/**
 * Content hashes of the referenced objects, keyed by `referenceKey(ref)`; `null` when the
 * object does not exist (optional references let the container start without it).
 */
export type ReferencedContent = ReadonlyMap<string, string | null>;

export function referenceKey(ref: ObjectReference): string {
  return `${ref.kind}/${ref.name}`;
}

/** The part of a Definition an agent needs to run one container (Instance.spec.template). */
export function runTemplateOf(spec: DefinitionSpec): RunTemplate {
  const template: RunTemplate = {};
  if (spec.image !== undefined) template.image = spec.image;
  if (spec.repository !== undefined) template.repository = spec.repository;
  if (spec.command !== undefined) template.command = spec.command;
  if (spec.args !== undefined) template.args = spec.args;
  if (spec.env !== undefined) template.env = spec.env;
  if (spec.envFrom !== undefined) template.envFrom = spec.envFrom;
  if (spec.resources !== undefined) template.resources = spec.resources;
  if (spec.healthCheck !== undefined) template.healthCheck = spec.healthCheck;
  if (spec.livenessCheck !== undefined) template.livenessCheck = spec.livenessCheck;
  return structuredClone(template);
}

/**
 * Secrets and ConfigMaps whose data ends up in the container, sorted and without repeats.
 * The image pull secret is not one of them: new registry credentials do not change what runs.
 */
export function referencedObjects(template: RunTemplate): ObjectReference[] {
  const seen = new Map<string, ObjectReference>();
  const add = (kind: ReferencedKind, name: string): void => {
    seen.set(referenceKey({ kind, name }), { kind, name });
  };
  for (const env of template.env ?? []) {
    if (env.valueFrom?.secretKeyRef) add("Secret", env.valueFrom.secretKeyRef.name);
    if (env.valueFrom?.configMapKeyRef) add("ConfigMap", env.valueFrom.configMapKeyRef.name);
  }
  for (const source of template.envFrom ?? []) {
    if (source.secretRef) add("Secret", source.secretRef.name);
    if (source.configMapRef) add("ConfigMap", source.configMapRef.name);
  }
  return [...seen.values()].sort((a, b) => compareStrings(referenceKey(a), referenceKey(b)));
}

/**
 * HMAC-SHA256, keyed by the installation's salt, of a Secret's or ConfigMap's data (both
 * `data` and `binaryData` of a ConfigMap go in, each tagged). Key order does not matter.
 */
export function contentHash(
  salt: Buffer,
  ...maps: Array<[tag: string, data: Record<string, string> | undefined]>
): string {
  const hash = createHmac("sha256", salt);
  for (const [tag, data] of maps) {
    for (const key of Object.keys(data ?? {}).sort(compareStrings)) {
      // Length-prefixed fields so that no two different maps serialise to the same bytes.
      for (const field of [tag, key, data?.[key] ?? ""]) {
        hash.update(`${Buffer.byteLength(field)}:${field};`);
      }
    }
  }
  return hash.digest("hex");
}

/**
 * The deploymentId of a Definition spec, given the content hashes of what it references
 * and, for a repository Definition, the commit its ref resolved to: a moved branch is a
 * new deployment although the spec did not change.
 */
export function computeDeploymentId(
  spec: DefinitionSpec,
  referenced: ReferencedContent,
  source?: { commit: string },
): string {
  const template = runTemplateOf(spec);
  const references: Record<string, string | null> = {};
  for (const ref of referencedObjects(template)) {
    references[referenceKey(ref)] = referenced.get(referenceKey(ref)) ?? null;
  }
  const input = {
    template,
    hostPort: spec.hostPort ?? null,
    // Which dependencies exist decides which BERTH_DEP_* variables the container gets.
    dependsOn: [...new Set(spec.dependsOn ?? [])].sort(compareStrings),
    references,
    // Absent for image Definitions, so their ids stay what they were.
    commit: source?.commit,
  };
  return createHash("sha256").update(canonicalJson(input)).digest("hex").slice(0, DEPLOYMENT_ID_LENGTH);
}

/** JSON with object keys sorted and undefined members dropped, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((item: unknown) => canonicalJson(item)).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, member]) => member !== undefined)
    .sort(([a], [b]) => compareStrings(a, b));
  return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(",")}}`;
}

/** Code-unit order, independent of the locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
