/**
 * Kubernetes quantities as the API types allow them: memory such as 64Mi, 1.5Gi or 500M,
 * and CPUs such as 500m or 1.5. Parsed to plain numbers (bytes, cores) for capacity sums.
 */
const SUFFIXES: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** The quantity's value, or undefined when the text is not a quantity. */
export function parseQuantity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(text.trim());
  if (!match) return undefined;
  const factor = SUFFIXES[match[2] ?? ""];
  return factor === undefined ? undefined : Number(match[1]) * factor;
}
