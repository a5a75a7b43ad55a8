/**
 * The discovery controller's unit-test world: the fake API server with informers of
 * Services and Berth's EndpointSlices, a ready Node, and Instances as the Definition
 * controller and the agent leave them.
 */
import type { TestContext } from "node:test";
import { API_VERSION, type Instance } from "../api/types.js";
import { DEFINITIONS, ENDPOINT_SLICES, INSTANCES, SERVICES, type EndpointSlice } from "../kube/resources.js";
import { Informer } from "../runtime/informer.js";
import { DiscoveryReconciler } from "../controllers/discovery/discovery-controller.js";
import { SLICE_MANAGED_BY_LABEL, SLICE_MANAGER } from "../controllers/discovery/discovery.js";
import { FakeClock } from "./fake-clock.js";
import { NS, markRunning, newWorld, readyNode, type World } from "./reconciler-fixtures.js";

/** The service every test publishes. */
export const KEY = `${NS}/web`;

export async function mirrorWorld(t: TestContext) {
  const world = await newWorld();
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
  const reconciler = new DiscoveryReconciler(world.context, { services, endpointSlices });
  await readyNode(world, "node-a");
  return {
    world,
    reconciler,
    mirror: { services, endpointSlices },
    reconcile: () => world.reconcile(reconciler, KEY),
  };
}

/** An Instance as the definition controller and the agent leave it: bound, with an address. */
export async function runningInstance(world: World, name: string, port: number, ready = true): Promise<void> {
  const definition = world.server.peek(DEFINITIONS, { namespace: NS, name: "web" });
  const instance: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      namespace: NS,
      name,
      labels: { "berth.dev/definition": "web" },
      ...(definition
        ? {
            ownerReferences: [
              {
                apiVersion: API_VERSION,
                kind: "Definition",
                name: "web",
                uid: definition.metadata.uid ?? "",
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      definition: "web",
      deploymentId: "abc",
      nodeName: "node-a",
      template: { image: { name: "web", port: 80 } },
    },
  };
  await world.server.create(INSTANCES, instance);
  await markRunning(world, name, ready);
  await world.server.patchStatus(
    INSTANCES,
    { namespace: NS, name },
    { status: { address: { url: `http://10.0.0.5:${port}`, host: "10.0.0.5", port } } },
  );
  await world.settle();
}

export function slices(world: World): EndpointSlice[] {
  return world.server.peekAll(ENDPOINT_SLICES, NS);
}

export function listed(world: World): Array<[string, boolean | undefined]> {
  return slices(world)
    .flatMap((s) =>
      s.endpoints.map((e) => [e.targetRef?.name ?? "", e.conditions?.ready] as [string, boolean | undefined]),
    )
    .sort(([a], [b]) => a.localeCompare(b));
}

export function writes(world: World): string[] {
  return world.server.calls
    .filter((c) => c.verb !== "get" && c.verb !== "list" && c.verb !== "watch")
    .map((c) => `${c.verb} ${c.resource}`);
}
