/**
 * A small declarative flag parser: every option has a flag name, an environment variable,
 * a default, a type and a validation, and `--help` lists all of them. A command-line flag
 * beats its environment variable, which beats the default.
 */

export type FlagType = "string" | "int" | "number" | "bool" | "duration";

interface FlagValueOf {
  string: string;
  int: number;
  number: number;
  bool: boolean;
  /** Durations are parsed from "500ms", "10s", "2m", "1h" (or a bare number of ms) into ms. */
  duration: number;
}

interface FlagSpecOf<K extends FlagType> {
  /** Flag name without dashes, kebab-case: "log-level" is given as --log-level. */
  name: string;
  /** Environment variable read when the flag is absent, such as BERTH_LOG_LEVEL. */
  env?: string;
  type: K;
  default: FlagValueOf[K];
  help: string;
  /** Allowed values (string flags). */
  choices?: readonly string[];
  /** Returns a message when the value is unacceptable. */
  validate?: (value: FlagValueOf[K]) => string | undefined;
}

/** One option; `type` decides the value's type, and so what `default` and `validate` take. */
export type FlagSpec = { [K in FlagType]: FlagSpecOf<K> }[FlagType];

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues<S extends FlagSpecs> = {
  [P in keyof S]: S[P] extends { type: infer K extends FlagType } ? FlagValueOf[K] : never;
};

/** Identity helper that keeps each spec's literal type so parseFlags returns typed values. */
export function defineFlags<S extends FlagSpecs>(specs: S): S {
  return specs;
}

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

export interface ParseResult<S extends FlagSpecs> {
  values: FlagValues<S>;
  /** Arguments that are not flags, in order. */
  positional: string[];
  help: boolean;
}

/** "host:port" with a port from 0 to 65535. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:]*):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65535) return undefined;
  const host = match[1]!.replace(/^\[|\]$/g, "");
  return { host: host === "" ? "0.0.0.0" : host, port };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]) * DURATION_UNITS[match[2] ?? "ms"]!;
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function convert(spec: FlagSpec, raw: string, source: string): FlagValueOf[FlagType] {
  const fail = (why: string): never => {
    throw new FlagError(`invalid value "${raw}" for ${source}: ${why}`);
  };
  let value: FlagValueOf[FlagType];
  switch (spec.type) {
    case "string":
      value = raw;
      if (spec.choices && !spec.choices.includes(raw)) fail(`must be one of ${spec.choices.join(", ")}`);
      break;
    case "int":
      if (!/^-?\d+$/.test(raw.trim())) fail("must be a whole number");
      value = Number(raw);
      break;
    case "number":
      value = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(value)) fail("must be a number");
      break;
    case "bool": {
      const lowered = raw.toLowerCase();
      if (["true", "1", "yes"].includes(lowered)) value = true;
      else if (["false", "0", "no"].includes(lowered)) value = false;
      else return fail("must be true or false");
      break;
    }
    case "duration": {
      const parsed = parseDuration(raw);
      if (parsed === undefined) return fail('must be a duration such as "500ms", "10s", "2m"');
      value = parsed;
      break;
    }
  }
  const problem = (spec.validate as ((v: unknown) => string | undefined) | undefined)?.(value);
  if (problem) fail(problem);
  return value;
}

function describeSource(spec: FlagSpec, fromEnv: boolean): string {
  return fromEnv && spec.env ? `${spec.env} (--${spec.name})` : `--${spec.name}`;
}

export function parseFlags<S extends FlagSpecs>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): ParseResult<S> {
  const byName = new Map<string, [keyof S, FlagSpec]>();
  for (const [key, spec] of Object.entries(specs)) byName.set(spec.name, [key, spec]);
  const given = new Map<keyof S, string>();
  const positional: string[] = [];
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      positional.push(arg);
      continue;
    }
    const { key, spec, name, inline } = lookUpFlag(byName, arg);
    if (inline !== undefined) given.set(key, inline);
    else if (spec.type === "bool") given.set(key, "true");
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag --${name} needs a value`);
      given.set(key, next);
      i++;
    }
  }
  return { values: valuesOf(specs, given, env), positional, help };
}

/** The flag `--name` or `--name=value` names (`--no-name` is `--name=false` for a bool). */
function lookUpFlag<K>(
  byName: ReadonlyMap<string, [K, FlagSpec]>,
  arg: string,
): { key: K; spec: FlagSpec; name: string; inline: string | undefined } {
  const eq = arg.indexOf("=");
  let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
  let inline = eq === -1 ? undefined : arg.slice(eq + 1);
  let entry = byName.get(name);
  if (!entry && name.startsWith("no-") && inline === undefined) {
    const negated = byName.get(name.slice(3));
    if (negated && negated[1].type === "bool") {
      entry = negated;
      name = name.slice(3);
      inline = "false";
    }
  }
  if (!entry) throw new FlagError(`unknown flag --${name} (see --help)`);
  return { key: entry[0], spec: entry[1], name, inline };
}

/** Each flag's value: given on the command line, else from its environment variable, else its default. */
function valuesOf<S extends FlagSpecs>(
  specs: S,
  given: ReadonlyMap<keyof S, string>,
  env: Readonly<Record<string, string | undefined>>,
): FlagValues<S> {
  const values = {} as Record<keyof S, FlagValueOf[FlagType]>;
  for (const [key, spec] of Object.entries(specs) as Array<[keyof S, FlagSpec]>) {
    const fromFlag = given.get(key);
    const fromEnv = spec.env ? env[spec.env] : undefined;
    if (fromFlag !== undefined) values[key] = convert(spec, fromFlag, describeSource(spec, false));
    else if (fromEnv !== undefined && fromEnv !== "")
      values[key] = convert(spec, fromEnv, describeSource(spec, true));
    else values[key] = spec.default;
  }
  return values as FlagValues<S>;
}

function formatDefault(spec: FlagSpec): string {
  if (spec.type === "duration") return formatDuration(spec.default as number);
  if (spec.type === "string") return spec.default === "" ? '""' : String(spec.default);
  return String(spec.default);
}

/** The --help text: usage, then every flag with its type, environment variable and default. */
export function formatHelp(specs: FlagSpecs, usage: string): string {
  const lines = [usage, "", "Flags:"];
  for (const spec of Object.values(specs)) {
    const kind = spec.choices ? spec.choices.join("|") : spec.type;
    lines.push(`  --${spec.name} <${kind}>`);
    lines.push(`      ${spec.help}`);
    const env = spec.env ? `env ${spec.env}, ` : "";
    lines.push(`      (${env}default ${formatDefault(spec)})`);
  }
  lines.push("  --help", "      Show this text.");
  return lines.join("\n") + "\n";
}
