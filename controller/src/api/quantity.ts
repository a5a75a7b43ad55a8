/**
 * Kubernetes quantities as Berth's API allows them, in one place: the CRD schema carries
 * these patterns (`@patternOf` in types.ts), the scheduler sums Instances' claims against a
 * Node's capacity with these parsers, and the agent hands the engine the same numbers, so
 * the scheduler and the agent cannot disagree about whether an Instance fits.
 */

/** Memory: bytes, decimal (k, M, G, T) or binary (Ki, Mi, Gi, Ti) suffixes, such as 64Mi or 1.5G. */
export const MEMORY_QUANTITY_PATTERN = "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$";
/** CPUs: whole millicores (500m) or cores with a fraction (1.5). */
export const CPU_QUANTITY_PATTERN = "^([0-9]+m|[0-9]+(\\.[0-9]+)?)$";

const MEMORY = new RegExp(MEMORY_QUANTITY_PATTERN);
const CPU = new RegExp(CPU_QUANTITY_PATTERN);

const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/**
 * A memory quantity in whole bytes; undefined when the text is not one. The number may be
 * beyond 2^53 (not exact): a caller that passes it on checks Number.isSafeInteger.
 */
export function memoryBytes(text: string): number | undefined {
  const match = MEMORY.exec(text);
  if (!match) return undefined;
  const suffix = match[2] ?? "";
  return Math.round(Number(text.slice(0, text.length - suffix.length)) * MEMORY_UNITS[suffix]!);
}

/**
 * A CPU quantity in NanoCpus (1e9 per core, Docker's unit), a whole number; undefined when
 * the text is not one. Beyond 2^53 it is not exact, as for memoryBytes.
 */
export function cpuNanos(text: string): number | undefined {
  if (!CPU.test(text)) return undefined;
  return text.endsWith("m") ? Number(text.slice(0, -1)) * 1e6 : Math.round(Number(text) * 1e9);
}
