/**
 * Fixtures for the discovery mirror's tests: what the EndpointSlices of a service say, read
 * from the real API server, and what they should say, worked out from the Instances there
 * independently of the mirror's own code.
 */
import type { Instance } from "../../controller/src/api/types.js";
import {
  ENDPOINT_SLICES,
  INSTANCES,
  SERVICES,
  type EndpointSlice,
  type Service,
} from "../../controller/src/kube/resources.js";
import { getOrUndefined } from "../../controller/src/kube/errors.js";
import { waitFor } from "../harness/index.js";
import { client } from "./controller-fixtures.js";

/** ready/serving/terminating of one endpoint, as text for readable diffs. */
export type Flags = string;

function flags(ready: boolean, serving: boolean, terminating: boolean): Flags {
  return `ready=${ready} serving=${serving} terminating=${terminating}`;
}

export interface Mirror {
  service: Service | undefined;
  slices: EndpointSlice[];
  /** Instance name → its endpoint's flags. */
  endpoints: Map<string, Flags>;
  /** Instance names listed more than once. */
  duplicates: string[];
}

/** Berth's EndpointSlices of a service and what they list. */
export async function mirrorOf(namespace: string, slug: string): Promise<Mirror> {
  const kube = client();
  const service = await getOrUndefined(() => kube.get(SERVICES, { namespace, name: slug }));
  const { items: slices } = await kube.list(ENDPOINT_SLICES, {
    namespace,
    labelSelector: `kubernetes.io/service-name=${slug}`,
  });
  const endpoints = new Map<string, Flags>();
  const duplicates: string[] = [];
  for (const slice of slices) {
    for (const endpoint of slice.endpoints ?? []) {
      const name = endpoint.targetRef?.name ?? "";
      if (endpoints.has(name)) duplicates.push(name);
      const c = endpoint.conditions ?? {};
      endpoints.set(name, flags(c.ready === true, c.serving === true, c.terminating === true));
    }
  }
  return { service, slices, endpoints, duplicates };
}

/**
 * What the slices should list: every Instance of the slug with an address. On the tests'
 * Nodes (all Ready) a Berth-run Instance is ready when its agent says so and it is not being
 * deleted; a deleted one still serves while the agent last said ready.
 */
export async function expectedOf(namespace: string, slug: string): Promise<Map<string, Flags>> {
  const { items } = await client().list(INSTANCES, { namespace });
  const expected = new Map<string, Flags>();
  for (const instance of items.filter((i: Instance) => i.spec.definition === slug)) {
    const terminating = instance.metadata.deletionTimestamp !== undefined;
    const name = instance.metadata.name ?? "";
    if (instance.spec.external) {
      const up = instance.spec.external.ttlSeconds === undefined || instance.status?.ready === true;
      expected.set(name, flags(up && !terminating, up, terminating));
      continue;
    }
    if (!instance.status?.address) continue;
    const up = instance.status.ready === true;
    expected.set(name, flags(up && !terminating, up, terminating));
  }
  return expected;
}

function describe(map: Map<string, Flags>): string {
  return [...map]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, f]) => `${name}: ${f}`)
    .join("; ");
}

/**
 * Waits until the slices list exactly the Instances there are, with the flags they should
 * have, in slices of at most 100 endpoints and no endpoint twice. `check` may add a
 * condition on the expected list (such as its size).
 */
export async function waitForMirror(
  namespace: string,
  slug: string,
  check: (expected: Map<string, Flags>) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<Mirror> {
  let last = "";
  return await waitFor(
    `the EndpointSlices of ${slug} to list its Instances`,
    async () => {
      const expected = await expectedOf(namespace, slug);
      const mirror = await mirrorOf(namespace, slug);
      last = `expected [${describe(expected)}], published [${describe(mirror.endpoints)}]`;
      if (!check(expected)) return undefined;
      if (mirror.duplicates.length > 0) throw new Error(`listed twice: ${mirror.duplicates.join(", ")}`);
      const oversized = mirror.slices.filter((s) => (s.endpoints ?? []).length > 100);
      if (oversized.length > 0) throw new Error(`a slice holds more than 100 endpoints`);
      return describe(expected) === describe(mirror.endpoints) ? mirror : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (last: ${last})`);
  });
}

/** Waits until neither the Service nor any slice of the slug is left. */
export async function waitForNoMirror(namespace: string, slug: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `the Service and EndpointSlices of ${slug} to be gone`,
    async () => {
      const mirror = await mirrorOf(namespace, slug);
      return mirror.service === undefined && mirror.slices.length === 0;
    },
    { timeoutMs },
  );
}
