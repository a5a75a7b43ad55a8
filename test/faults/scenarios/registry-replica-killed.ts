/**
 * A registry replica SIGKILLed while clients hold blocking queries on it: each client
 * (`berth/client`'s RegistryClient given every replica's URL) resumes on another replica,
 * from the index it had, and no change is lost: the scale-ups and scale-downs made while the
 * replica is dead, and after it is back, each reach every client as a list with exactly the
 * service's ready instances.
 */
import { RegistryClient } from "../../../controller/src/client/registry-client.js";
import type { ServiceInstances } from "../../../controller/src/client/types.js";
import { waitFor } from "../../harness/index.js";
import type { FaultCluster, Scenario, ScenarioResult } from "../contract.js";
import {
  closeScenario,
  kubeOf,
  metricValue,
  openScenario,
  rollingEchoSpec,
  settleOrThrow,
} from "../scenario-kit.js";
import { applyDefinition } from "../machine-kit.js";
import { DEFINITIONS } from "../../../controller/src/kube/resources.js";

/** Clients per replica they start on. */
const CLIENTS_PER_REPLICA = 2;
/** How long a client may take to deliver a change once the service's status shows it. */
const DELIVERY_TIMEOUT_MS = 60_000;

interface Follower {
  startsOn: number;
  seen: ServiceInstances[];
  abort: AbortController;
  done: Promise<unknown>;
}

export const registryReplicaKilled: Scenario = {
  name: "registry-replica-killed",
  fault:
    "a registry replica SIGKILLed while clients hold blocking queries on it; changes made while it is dead and after",
  async run(cluster: FaultCluster): Promise<ScenarioResult> {
    const kube = kubeOf(cluster);
    const plane = cluster.controlPlane;
    const urls = plane.registryUrls();
    if (urls.length < 2)
      throw new Error(`the scenario needs two registry replicas, the cluster runs ${urls.length}`);
    const opened = await openScenario(
      cluster,
      "fx-registry",
      rollingEchoSpec(2, "registry"),
      "the Definition before the kill",
    );
    const { namespace, watch, notes, failures } = opened;

    const followers: Follower[] = [];
    for (let replica = 0; replica < 2; replica++) {
      for (let i = 0; i < CLIENTS_PER_REPLICA; i++) {
        const rotated = [...urls.slice(replica), ...urls.slice(0, replica)];
        const client = new RegistryClient({ url: rotated, namespace, waitMs: 60_000, maxBackoffMs: 2000 });
        const abort = new AbortController();
        const follower: Follower = { startsOn: replica, seen: [], abort, done: Promise.resolve() };
        follower.done = (async () => {
          for await (const answer of client.watch("web", { signal: abort.signal }))
            follower.seen.push(answer);
        })().catch((err: unknown) => failures.push(`a client's watch ended: ${String(err)}`));
        followers.push(follower);
      }
    }
    /** Every client's latest list has exactly these instance URLs. */
    const allSee = async (what: string, expected: () => Promise<string[]>): Promise<number> => {
      const started = Date.now();
      let want: string[] = [];
      await waitFor(
        `every client to see ${what}`,
        async () => {
          want = (await expected()).sort();
          return followers.every((f) => {
            const last = f.seen.at(-1);
            const got = (last?.instances ?? [])
              .filter((i) => i.ready)
              .map((i) => i.url ?? "")
              .sort();
            return JSON.stringify(got) === JSON.stringify(want);
          });
        },
        { timeoutMs: DELIVERY_TIMEOUT_MS, intervalMs: 100 },
      ).catch((err: unknown) => {
        const lasts = followers.map((f) => f.seen.at(-1)?.instances.map((i) => i.url));
        failures.push(
          `${(err as Error).message}; wanted ${JSON.stringify(want)}, clients have ${JSON.stringify(lasts)}`,
        );
      });
      return Date.now() - started;
    };
    const statusAddresses = async (): Promise<string[]> =>
      (await kube.get(DEFINITIONS, { namespace, name: "web" })).status?.addresses ?? [];
    await allSee("the 2 first instances", statusAddresses);
    await waitFor("the clients' blocking queries parked on replica 0", async () => {
      const parked = metricValue(await plane.registryMetrics(0), "berth_registry_open_waits", {
        kind: "blocking",
      });
      return parked >= CLIENTS_PER_REPLICA;
    });

    const faultAt = Date.now();
    await plane.killRegistry(0);
    await applyDefinition(cluster, namespace, "web", rollingEchoSpec(4, "registry"));
    const settled = await watch.settle(180_000);
    const settledAt = Date.now();
    const lag = await allSee("the scale to 4 with replica 0 dead", statusAddresses);
    // Recovery: from the kill until the change made meanwhile is carried out and every client has it.
    const recoveryMs = settled === undefined ? undefined : Date.now() - faultAt;
    notes.push(
      `the scale to 4 was carried out ${settledAt - faultAt} ms after the kill; every client had it ${lag} ms later`,
    );

    await plane.startRegistry(0);
    await applyDefinition(cluster, namespace, "web", rollingEchoSpec(1, "registry"));
    await settleOrThrow(watch, "the scale to 1 after replica 0 came back");
    await allSee("the scale to 1 after replica 0 came back", statusAddresses);
    const observations = await watch.stop();

    for (const f of followers) {
      f.abort.abort();
      const indexes = f.seen.map((s) => s.index);
      if (indexes.some((index, i) => i > 0 && index <= indexes[i - 1]!)) {
        failures.push(`a client starting on replica ${f.startsOn} saw indexes go back: ${indexes.join(",")}`);
      }
    }
    await Promise.all(followers.map((f) => f.done));
    notes.push(`answers per client: ${followers.map((f) => f.seen.length).join(", ")}`);
    return await closeScenario(cluster, opened, this.name, { recoveryMs, observations }, [
      "the client's retry backoff after a failed request (from 250-500 ms, doubling)",
      "the time from a Definition's change to its Instances being ready (the change itself)",
    ]);
  },
};
