/**
 * An Instance's environment resolved to values: dependency addresses, envFrom and env, in
 * Kubernetes' precedence. Pure: Secrets, ConfigMaps and Definitions come in through a
 * lookup, so the controller (which delivers the result to the Instance's Node) and tests
 * share one implementation and this file does no I/O.
 *
 * Secret values only ever land in the returned list: never in errors (errors name the
 * object and key, not the value).
 */
import type { Definition, DefinitionSpec, EnvVar, RunTemplate } from "../api/types.js";

/**
 * A problem with what the environment refers to. `reason` is what the Instance's
 * ContainerReady condition shows: CreateContainerConfigError (a missing Secret, ConfigMap
 * or key), DependencyNotReady (a dependsOn target has no ready address yet), or
 * EnvironmentNotDelivered (the agent has no environment for the Instance yet).
 */
export class EnvironmentError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "EnvironmentError";
  }
}

/** Reads the objects an environment refers to, all in the Instance's namespace. */
export interface EnvSources {
  /** A Secret's data, base64-decoded; undefined when the Secret does not exist. */
  secret(name: string): Secrets;
  /** A ConfigMap's data; undefined when the ConfigMap does not exist. */
  configMap(name: string): Secrets;
  /** A Definition; undefined when it does not exist. */
  definition(name: string): Definition | undefined;
}

type Secrets = Record<string, string> | undefined;

/** The environment variable names a dependency's addresses are offered under. */
export function dependencyEnvNames(slug: string): { url: string; urls: string } {
  const base = `BERTH_DEP_${slug.toUpperCase().replace(/-/g, "_")}`;
  return { url: `${base}_URL`, urls: `${base}_URLS` };
}

/** The parts of a Definition an environment is made of. */
export type EnvironmentSpec = Pick<DefinitionSpec, "env" | "envFrom" | "dependsOn">;

/**
 * The container's environment in precedence order (later wins): dependency addresses,
 * then envFrom, then env — as in Kubernetes, an explicit env entry beats envFrom.
 */
export function resolveEnv(spec: EnvironmentSpec, sources: EnvSources): Array<[string, string]> {
  const result: Array<[string, string]> = [];
  result.push(...dependencyEnv(spec.dependsOn ?? [], sources));
  for (const from of spec.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const kind = from.secretRef ? "Secret" : "ConfigMap";
    const data = from.secretRef ? sources.secret(ref.name) : sources.configMap(ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new EnvironmentError(
        "CreateContainerConfigError",
        `envFrom: ${kind} "${ref.name}" not found; create it or mark the reference optional`,
      );
    }
    for (const key of Object.keys(data).sort()) {
      const name = `${from.prefix ?? ""}${key}`;
      // Kubernetes skips keys that are not valid variable names; so does Berth.
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) result.push([name, data[key]!]);
    }
  }
  for (const variable of spec.env ?? []) {
    const value = envValue(variable, sources);
    if (value !== undefined) result.push([variable.name, value]);
  }
  return result;
}

function envValue(variable: EnvVar, sources: EnvSources): string | undefined {
  if (!variable.valueFrom) return variable.value ?? "";
  const selector = variable.valueFrom.secretKeyRef ?? variable.valueFrom.configMapKeyRef;
  if (!selector) return variable.value ?? "";
  const kind = variable.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
  const data = variable.valueFrom.secretKeyRef
    ? sources.secret(selector.name)
    : sources.configMap(selector.name);
  const value = data?.[selector.key];
  if (value !== undefined) return value;
  if (selector.optional) return undefined;
  const what = data ? `has no key "${selector.key}"` : "not found";
  throw new EnvironmentError(
    "CreateContainerConfigError",
    `env ${variable.name}: ${kind} "${selector.name}" ${what}; create it or mark the reference optional`,
  );
}

function dependencyEnv(dependsOn: readonly string[], sources: EnvSources): Array<[string, string]> {
  const result: Array<[string, string]> = [];
  for (const slug of dependsOn) {
    const dependency = sources.definition(slug);
    const addresses = dependency?.status?.addresses ?? [];
    if (addresses.length === 0) {
      throw new EnvironmentError(
        "DependencyNotReady",
        `dependency "${slug}" has no ready Instance yet; waiting for it before starting`,
      );
    }
    const names = dependencyEnvNames(slug);
    result.push([names.url, addresses[0]!], [names.urls, addresses.join(",")]);
  }
  return result;
}

/** Decodes a Secret's base64 data (and merges stringData, which a server never returns but a fake may). */
export function decodeSecretData(
  data: Record<string, string> | undefined,
  stringData?: Record<string, string>,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(data ?? {}))
    result[key] = Buffer.from(value, "base64").toString("utf8");
  return { ...result, ...(stringData ?? {}) };
}

/**
 * The run template as an Instance carries it when its environment is delivered: env
 * entries keep their names and references but lose literal values, so that whoever may
 * list Instances (every agent) does not read them. The values reach the container through
 * the delivered environment only.
 */
export function withoutLiteralValues(template: RunTemplate): RunTemplate {
  if (!template.env) return template;
  return {
    ...template,
    env: template.env.map((variable) =>
      variable.valueFrom ? { name: variable.name, valueFrom: variable.valueFrom } : { name: variable.name },
    ),
  };
}
