/**
 * An InvariantChecker that samples every ~100 ms: the namespace's Berth containers on every
 * machine's engine, the Definitions and Instances (Instances from a watch, so a deletion is
 * seen with its deletionTimestamp), and an HTTP GET of every address each Definition's status
 * lists. When the API server does not answer, the last Definitions seen are probed on.
 */
import type { Definition, Instance } from "../../controller/src/api/types.js";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import type { ContainerSummary } from "../../controller/src/docker/types.js";
import { DEFINITIONS, INSTANCES } from "../../controller/src/kube/resources.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { FaultCluster, InvariantObservations } from "./contract.js";
import { kubeClientFor } from "./dev-cluster.js";
import type { InvariantChecker, InvariantWatch } from "./invariants-api.js";

const SAMPLE_MS = 100;
const PROBE_TIMEOUT_MS = 1000;

interface Verdict {
  settled: boolean;
  orphanContainers: string[];
  instancesWithoutContainer: string[];
  unmetDefinitions: string[];
}

/** Longest-window bookkeeping: open() when a condition starts, close() when it ends. */
class Windows {
  private readonly open = new Map<string, number>();
  longest = 0;
  readonly keys = new Set<string>();

  see(key: string, on: boolean, now: number): void {
    const since = this.open.get(key);
    if (on) {
      this.keys.add(key);
      if (since === undefined) this.open.set(key, now);
      else this.longest = Math.max(this.longest, now - since);
    } else if (since !== undefined) {
      this.longest = Math.max(this.longest, now - since);
      this.open.delete(key);
    }
  }

  /** Ends windows for keys no longer present. */
  keep(present: Set<string>, now: number): void {
    for (const key of [...this.open.keys()]) if (!present.has(key)) this.see(key, false, now);
  }
}

export const samplingChecker: InvariantChecker = {
  async start(cluster: FaultCluster, namespace: string): Promise<InvariantWatch> {
    const kube = kubeClientFor(cluster.controlPlane.kubeconfig);
    const engines = cluster.machines.map((m) => ({
      node: m.name,
      docker: new DockerEngine({ url: `unix://${m.dockerSocket}` }),
    }));
    const instances = new Informer(kube, INSTANCES, {
      namespace,
      silenceTimeoutMs: 30_000,
      backoffMaxMs: 2000,
    });
    const lastSeen = new Map<string, Instance>();
    const deleting = new Set<string>();
    const lost = new Set<string>();
    instances.addHandler({
      onAdd: (obj) => remember(obj),
      onUpdate: (_old, obj) => remember(obj),
      onDelete: (obj) => {
        const uid = obj.metadata.uid ?? "";
        // A relist hands back the cached object (a deletion the watch missed): not a loss.
        const fromWatch = lastSeen.get(uid)?.metadata.resourceVersion !== obj.metadata.resourceVersion;
        if (fromWatch && !obj.metadata.deletionTimestamp && !deleting.has(uid)) {
          lost.add(obj.metadata.name ?? uid);
        }
        lastSeen.delete(uid);
      },
    });
    function remember(obj: Instance): void {
      const uid = obj.metadata.uid ?? "";
      lastSeen.set(uid, obj);
      if (obj.metadata.deletionTimestamp) deleting.add(uid);
    }
    instances.start();
    await instances.waitForSync();

    let definitions: Definition[] = [];
    const perEngine = { max: 0 };
    const twoCopies = new Windows();
    const noAnswer = new Windows();
    const noCopy = new Windows();
    const everAnswered = new Set<string>();
    let verdict: Verdict = {
      settled: false,
      orphanContainers: [],
      instancesWithoutContainer: [],
      unmetDefinitions: [],
    };
    let settledSamples = 0;
    let stopped = false;

    const sampleOnce = async (): Promise<void> => {
      const now = Date.now();
      const listed = await kube.list(DEFINITIONS, { namespace }).catch(() => undefined);
      if (listed) definitions = listed.items;
      const containers = await Promise.all(
        engines.map(async (e) => ({
          node: e.node,
          list: await e.docker
            .listContainers({ [LABELS.namespace]: namespace })
            .catch((): ContainerSummary[] | undefined => undefined),
        })),
      );
      const running = new Map<string, Set<string>>();
      for (const { node, list } of containers) {
        const counts = new Map<string, number>();
        for (const c of list ?? []) {
          if (c.state !== "running") continue;
          const instance = c.labels[LABELS.instance] ?? c.name;
          counts.set(instance, (counts.get(instance) ?? 0) + 1);
          running.set(instance, (running.get(instance) ?? new Set()).add(node));
        }
        for (const count of counts.values()) perEngine.max = Math.max(perEngine.max, count);
      }
      for (const [instance, nodes] of running) twoCopies.see(instance, nodes.size > 1, now);
      twoCopies.keep(new Set(running.keys()), now);

      const answers = new Map<string, boolean>();
      const addresses = [...new Set(definitions.flatMap((d) => d.status?.addresses ?? []))];
      await Promise.all(
        addresses.map(async (address) => {
          const res = await fetch(`${address}/`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).catch(
            () => undefined,
          );
          await res?.body?.cancel();
          answers.set(address, res?.status === 200);
        }),
      );
      for (const [address, ok] of answers) noAnswer.see(address, !ok, now);
      noAnswer.keep(new Set(addresses), now);
      for (const d of definitions) {
        const name = d.metadata.name ?? "";
        const some = (d.status?.addresses ?? []).some((a) => answers.get(a));
        if (some) everAnswered.add(name);
        const wanted = (d.spec.replicas ?? 1) > 0;
        if (everAnswered.has(name)) noCopy.see(name, wanted && !some, now);
      }

      verdict = judge(definitions, instances.list(), containers, answers);
      settledSamples = verdict.settled && listed ? settledSamples + 1 : 0;
    };

    const loop = (async () => {
      while (!stopped) {
        const started = Date.now();
        await sampleOnce().catch(() => undefined);
        await sleep(Math.max(0, SAMPLE_MS - (Date.now() - started)));
      }
    })();

    return {
      async settle(timeoutMs: number): Promise<number | undefined> {
        const started = Date.now();
        settledSamples = 0;
        while (Date.now() - started < timeoutMs) {
          // Two samples in a row, so one lucky sample between two faults does not count.
          if (settledSamples >= 2) return Date.now() - started;
          await sleep(SAMPLE_MS);
        }
        return undefined;
      },
      async stop(): Promise<InvariantObservations> {
        stopped = true;
        await loop;
        await instances.stop();
        const end = Date.now();
        for (const w of [twoCopies, noAnswer, noCopy]) w.keep(new Set(), end);
        return {
          maxContainersPerInstance: perEngine.max,
          duplicateInstancesSeen: twoCopies.keys.size,
          longestTwoCopiesMs: twoCopies.longest,
          longestNoAnswerMs: noAnswer.longest,
          longestNoCopyMs: noCopy.longest,
          orphanContainers: verdict.orphanContainers,
          instancesWithoutContainer: verdict.instancesWithoutContainer,
          lostInstances: [...lost],
          unmetDefinitions: verdict.unmetDefinitions,
        };
      },
    };
  },
};

/** Whether every invariant holds now, and what breaks it. */
function judge(
  definitions: Definition[],
  instances: Instance[],
  containers: Array<{ node: string; list: ContainerSummary[] | undefined }>,
  answers: Map<string, boolean>,
): Verdict {
  const live = instances.filter((i) => !i.metadata.deletionTimestamp);
  const byName = new Map(instances.map((i) => [i.metadata.name ?? "", i]));
  const orphanContainers: string[] = [];
  const containerOn = new Map<string, number>();
  let engineMissing = false;
  for (const { node, list } of containers) {
    if (!list) engineMissing = true;
    for (const c of list ?? []) {
      const name = c.labels[LABELS.instance] ?? "";
      const instance = byName.get(name);
      if (!instance || instance.spec.nodeName !== node) orphanContainers.push(`${node}/${c.name}`);
      else if (c.state === "running") containerOn.set(name, (containerOn.get(name) ?? 0) + 1);
    }
  }
  const instancesWithoutContainer = live
    .filter((i) => i.spec.nodeName && !containerOn.has(i.metadata.name ?? "") && !i.status?.message)
    .map((i) => i.metadata.name ?? "");
  const unmetDefinitions: string[] = [];
  for (const d of definitions) {
    if (d.metadata.deletionTimestamp) continue;
    const name = d.metadata.name ?? "";
    const wanted = d.spec.replicas ?? 1;
    const mine = live.filter((i) => i.spec.definition === name);
    const current = mine.filter((i) => i.spec.deploymentId === d.status?.deploymentId);
    const ready = current.filter((i) => i.status?.ready && containerOn.get(i.metadata.name ?? "") === 1);
    const listed = d.status?.addresses ?? [];
    const met =
      d.status?.observedGeneration === d.metadata.generation &&
      mine.length === wanted &&
      ready.length === wanted &&
      listed.length === wanted &&
      listed.every((a) => answers.get(a) === true);
    if (!met) unmetDefinitions.push(`${name} (${ready.length}/${wanted} ready, ${mine.length} Instances)`);
  }
  const deletingLeft = instances.length !== live.length;
  return {
    settled:
      !engineMissing &&
      !deletingLeft &&
      orphanContainers.length === 0 &&
      instancesWithoutContainer.length === 0 &&
      unmetDefinitions.length === 0,
    orphanContainers,
    instancesWithoutContainer,
    unmetDefinitions,
  };
}
