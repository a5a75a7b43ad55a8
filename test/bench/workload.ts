/**
 * What the benchmarks on the simulated runtime share: Definitions whose health check a
 * simulated container answers, and the loops that create them and wait on them.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { API_VERSION, type Definition, type EnvVar } from "../../controller/src/api/types.js";

export const IMAGE = "berth-test/echo:1";

/** A Definition for simulated Nodes labelled `selector`: exec health checks, no port listened on. */
export function simulatedDefinition(
  namespace: string,
  name: string,
  shape: { replicas: number; selector: Record<string, string>; intervalSeconds: number; env?: EnvVar[] },
): Definition {
  return {
    apiVersion: API_VERSION,
    kind: "Definition",
    metadata: { name, namespace },
    spec: {
      image: { name: IMAGE, port: 8080 },
      replicas: shape.replicas,
      ...(shape.env ? { env: shape.env } : {}),
      placement: { nodeSelector: shape.selector },
      // A simulated container answers exec checks (after its readiness delay), nothing else.
      healthCheck: { type: "exec", command: ["true"], intervalSeconds: shape.intervalSeconds },
    },
  };
}

/** Runs work over items, `limit` at a time. */
export async function inParallel<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/** Checks every intervalMs until check() holds; throws naming `what` after timeoutMs. */
export async function waitUntil(
  what: string,
  { timeoutMs, intervalMs }: { timeoutMs: number; intervalMs: number },
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
