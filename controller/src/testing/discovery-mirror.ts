import type { TestContext } from "node:test";
import type { DiscoveryCaches } from "../controllers/discovery/discovery-controller.js";
import { SLICE_MANAGED_BY_LABEL, SLICE_MANAGER } from "../controllers/discovery/discovery.js";
import { ENDPOINT_SLICES, SERVICES } from "../kube/resources.js";
import { Informer } from "../runtime/informer.js";
import { FakeClock } from "./fake-clock.js";
import type { World } from "./reconciler-fixtures.js";

/**
 * The Service and EndpointSlice caches the discovery controller mirrors into, synced on the
 * world's fake API server; they and the world are stopped when `t` ends.
 */
export async function discoveryCaches(t: TestContext, world: World): Promise<DiscoveryCaches> {
  const cacheClock = new FakeClock();
  const services = new Informer(world.server, SERVICES, { clock: cacheClock });
  const endpointSlices = new Informer(world.server, ENDPOINT_SLICES, {
    clock: cacheClock,
    labelSelector: `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGER}`,
  });
  for (const informer of [services, endpointSlices]) {
    informer.start();
    await informer.waitForSync();
  }
  t.after(async () => {
    await services.stop();
    await endpointSlices.stop();
    await world.stop();
  });
  return { services, endpointSlices };
}
