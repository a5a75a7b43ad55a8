/**
 * The invariant checker every scenario shares. While a scenario runs it samples, every
 * ~100 ms: each machine's containers of the scenario's namespace (at most one per Instance
 * per engine; an Instance running on two engines at once is a duplicate, and how long it
 * lasted is recorded), and every address each Definition's status lists (the longest window
 * one did not answer, and the longest window a Definition had no answering address at all).
 * After the fault, `settle` waits until the namespace is whole again: no orphan container,
 * no Instance without a container or a reason, no lost Instance, every desired count met.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Definition, Instance } from "../../controller/src/api/types.js";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import type { ContainerSummary } from "../../controller/src/docker/types.js";
import { DEFINITIONS, INSTANCES } from "../../controller/src/kube/resources.js";
import { httpGet } from "../harness/index.js";
import type { SuiteCluster } from "./cluster.js";
import type { FaultCluster, InvariantObservations } from "./contract.js";

export const SAMPLE_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 800;

/** An open window: since when a condition has held. */
class Windows {
  private readonly open = new Map<string, number>();
  longestMs = 0;
  readonly keysSeen = new Set<string>();

  /** Records that `key`'s condition holds (true) or not (false) at `now`. */
  mark(key: string, holds: boolean, now: number): void {
    const since = this.open.get(key);
    if (holds) {
      this.keysSeen.add(key);
      if (since === undefined) this.open.set(key, now);
      else this.longestMs = Math.max(this.longestMs, now - since);
    } else if (since !== undefined) {
      this.longestMs = Math.max(this.longestMs, now - since);
      this.open.delete(key);
    }
  }

  /** Closes every window not among `keys` (their subject went away) at `now`. */
  closeAllBut(keys: Set<string>, now: number): void {
    for (const key of [...this.open.keys()]) if (!keys.has(key)) this.mark(key, false, now);
  }

  closeAll(now: number): void {
    this.closeAllBut(new Set(), now);
  }
}

interface EngineSample {
  at: number;
  running: ContainerSummary[];
}

/** What settle found in its last look; empty lists when the namespace is whole. */
export interface SettleFindings {
  orphanContainers: string[];
  instancesWithoutContainer: string[];
  lostInstances: string[];
  unmetDefinitions: string[];
  /** Engines that did not answer the last look (a settled namespace needs every one). */
  unreachableEngines: string[];
}

export function findingsClean(findings: SettleFindings): boolean {
  return Object.values(findings).every((list) => list.length === 0);
}

function baselineOf(live: Instance[]): Map<string, { definition: string; deploymentId: string }> {
  return new Map(
    live.map((i) => [
      i.metadata.name ?? "",
      { definition: i.spec.definition, deploymentId: i.spec.deploymentId ?? "" },
    ]),
  );
}

export class InvariantChecker {
  private running = false;
  private loops: Array<Promise<void>> = [];
  private readonly engineSamples = new Map<string, EngineSample>();
  private definitions: Definition[] = [];
  private maxPerInstance = 0;
  private maxExtra = 0;
  /** Definitions that had every wanted address answering at least once. */
  private readonly upOnce = new Set<string>();
  private readonly duplicateInstances = new Set<string>();
  /** The live Instances when sampling began, by name: lost ones are counted against them. */
  private baseline = new Map<string, { definition: string; deploymentId: string }>();
  private readonly twoCopies = new Windows();
  private readonly noAnswer = new Windows();
  private readonly noCopy = new Windows();
  private lastLive: Instance[] = [];
  /** Sampling rounds completed, for a scenario that wants proof the checker looked. */
  addressRounds = 0;

  constructor(
    private readonly cluster: SuiteCluster,
    readonly namespace: string,
  ) {}

  /** Checkers sampling now: a scenario that fails before it stops its own leaves it here. */
  private static readonly live = new Set<InvariantChecker>();

  /** Stops every checker still sampling (after a scenario that failed half-way). */
  static async stopAll(): Promise<void> {
    await Promise.all([...InvariantChecker.live].map((checker) => checker.stop()));
  }

  /** Starts sampling; the Instances live now are the baseline lost Instances are judged by. */
  async start(): Promise<void> {
    const instances = (await this.cluster.client.list(INSTANCES, { namespace: this.namespace })).items;
    this.baseline = baselineOf(instances.filter((i) => !i.metadata.deletionTimestamp));
    this.running = true;
    InvariantChecker.live.add(this);
    this.loops = [
      ...this.cluster.machines.map((machine) => this.every(() => this.sampleEngine(machine.name))),
      this.every(() => this.sampleDefinitions()),
      this.every(() => this.probeAddresses()),
    ];
  }

  /** Stops sampling and returns what was seen (settle's findings are added by the caller). */
  async stop(): Promise<
    Pick<
      InvariantObservations,
      | "maxContainersPerInstance"
      | "duplicateInstancesSeen"
      | "maxExtraCopies"
      | "longestTwoCopiesMs"
      | "longestNoAnswerMs"
      | "longestNoCopyMs"
    >
  > {
    this.running = false;
    InvariantChecker.live.delete(this);
    await Promise.all(this.loops);
    const now = Date.now();
    for (const windows of [this.twoCopies, this.noAnswer, this.noCopy]) windows.closeAll(now);
    return {
      maxContainersPerInstance: this.maxPerInstance,
      duplicateInstancesSeen: this.duplicateInstances.size,
      maxExtraCopies: Math.max(0, this.maxExtra),
      longestTwoCopiesMs: this.twoCopies.longestMs,
      longestNoAnswerMs: this.noAnswer.longestMs,
      longestNoCopyMs: this.noCopy.longestMs,
    };
  }

  private async every(step: () => Promise<void>, intervalMs = SAMPLE_INTERVAL_MS): Promise<void> {
    while (this.running) {
      const started = Date.now();
      await step().catch(() => undefined);
      await sleep(Math.max(10, intervalMs - (Date.now() - started)));
    }
  }

  private async sampleEngine(nodeName: string): Promise<void> {
    const machine = this.cluster.machine(nodeName);
    if (!machine) return;
    // A frozen or dead engine keeps its last sample: its containers go on running meanwhile.
    const containers = await machine.docker.listContainers({ [LABELS.namespace]: this.namespace });
    const running = containers.filter((c) => c.state === "running");
    this.engineSamples.set(nodeName, { at: Date.now(), running });
    this.judgeContainers(Date.now());
  }

  private judgeContainers(now: number): void {
    const enginesByInstance = new Map<string, Set<string>>();
    for (const [node, sample] of this.engineSamples) {
      const perInstance = new Map<string, number>();
      for (const container of sample.running) {
        const instance = container.labels[LABELS.instance] ?? container.name;
        perInstance.set(instance, (perInstance.get(instance) ?? 0) + 1);
        const engines = enginesByInstance.get(instance) ?? new Set<string>();
        engines.add(node);
        enginesByInstance.set(instance, engines);
      }
      for (const count of perInstance.values()) this.maxPerInstance = Math.max(this.maxPerInstance, count);
    }
    const twoCopies = new Set<string>();
    for (const [instance, engines] of enginesByInstance) {
      if (engines.size > 1) {
        twoCopies.add(instance);
        this.duplicateInstances.add(instance);
      }
    }
    // A replacement is a new Instance (names are never reused), so copies are also counted
    // per Definition: more containers running than it wants is an extra copy of something.
    const perDefinition = new Map<string, number>();
    for (const sample of this.engineSamples.values()) {
      for (const container of sample.running) {
        const definition = container.labels[LABELS.definition] ?? "";
        perDefinition.set(definition, (perDefinition.get(definition) ?? 0) + 1);
      }
    }
    for (const definition of this.definitions) {
      const name = definition.metadata.name ?? "";
      const extra = (perDefinition.get(name) ?? 0) - (definition.spec.replicas ?? 1);
      this.maxExtra = Math.max(this.maxExtra, extra);
      if (extra > 0) twoCopies.add(`definition ${name}`);
    }
    for (const key of twoCopies) this.twoCopies.mark(key, true, now);
    this.twoCopies.closeAllBut(twoCopies, now);
  }

  private async sampleDefinitions(): Promise<void> {
    // The API server may be down (a scenario restarts it): the last list stands meanwhile.
    this.definitions = (await this.cluster.client.list(DEFINITIONS, { namespace: this.namespace })).items;
  }

  private async probeAddresses(): Promise<void> {
    const definitions = this.definitions;
    const now = Date.now();
    const listed = new Set<string>();
    const withoutCopy = new Set<string>();
    await Promise.all(
      definitions.map(async (definition) => {
        const name = definition.metadata.name ?? "";
        const addresses = definition.status?.addresses ?? [];
        const answers = await Promise.all(
          addresses.map(async (address) => (await httpGet(`${address}/`, PROBE_TIMEOUT_MS))?.status === 200),
        );
        const wanted = definition.spec.replicas ?? 1;
        // A Definition still coming up is not an outage: windows count once it was whole.
        if (addresses.length >= wanted && answers.every(Boolean)) this.upOnce.add(name);
        if (!this.upOnce.has(name)) return;
        addresses.forEach((address, index) => {
          const key = `${name} ${address}`;
          listed.add(key);
          this.noAnswer.mark(key, !answers[index], now);
        });
        const none = wanted > 0 && !answers.some(Boolean);
        if (none) withoutCopy.add(name);
        this.noCopy.mark(name, none, now);
      }),
    );
    this.noAnswer.closeAllBut(listed, now);
    this.noCopy.closeAllBut(withoutCopy, now);
    this.addressRounds++;
  }

  /** One fresh look at the namespace: what keeps it from being whole. */
  async look(): Promise<SettleFindings> {
    const findings: SettleFindings = {
      orphanContainers: [],
      instancesWithoutContainer: [],
      lostInstances: [],
      unmetDefinitions: [],
      unreachableEngines: [],
    };
    const client = this.cluster.client;
    const [instances, definitions] = await Promise.all([
      client.list(INSTANCES, { namespace: this.namespace }).then((list) => list.items),
      client.list(DEFINITIONS, { namespace: this.namespace }).then((list) => list.items),
    ]);
    const live = instances.filter((i) => !i.metadata.deletionTimestamp);
    this.lastLive = live;
    const byName = new Map<string, Instance>(instances.map((i) => [i.metadata.name ?? "", i]));
    for (const machine of this.cluster.machines) {
      let containers: ContainerSummary[];
      try {
        containers = await machine.docker.listContainers({ [LABELS.namespace]: this.namespace });
      } catch {
        findings.unreachableEngines.push(machine.name);
        continue;
      }
      const perInstance = new Map<string, ContainerSummary[]>();
      for (const container of containers) {
        const name = container.labels[LABELS.instance] ?? "";
        perInstance.set(name, [...(perInstance.get(name) ?? []), container]);
      }
      for (const [name, list] of perInstance) {
        const instance = byName.get(name);
        const here = instance?.spec.nodeName === machine.name;
        for (const container of list) {
          const superseded = here && list.length > 1 && container.id !== instance?.status?.containerId;
          if (!here || superseded) findings.orphanContainers.push(`${machine.name}/${container.name}`);
        }
      }
      for (const instance of live.filter((i) => i.spec.nodeName === machine.name)) {
        const name = instance.metadata.name ?? "";
        const runningHere = (perInstance.get(name) ?? []).some((c) => c.state === "running");
        const reason = instance.status?.phase === "Failed" || Boolean(instance.status?.message);
        if (!runningHere && !reason) findings.instancesWithoutContainer.push(`${machine.name}/${name}`);
      }
    }
    // Lost: baseline Instances gone while their Definition (same deployment) is short of
    // its count. A replacement gets a new name (names are never reused), and a scale-down
    // removes Instances on purpose: neither is a loss.
    const current = new Map(definitions.map((d) => [d.metadata.name ?? "", d]));
    const gone = new Map<string, string[]>();
    for (const [name, was] of this.baseline) {
      const definition = current.get(was.definition);
      if (!definition || definition.status?.deploymentId !== was.deploymentId) continue;
      if (live.some((i) => i.metadata.name === name)) continue;
      gone.set(was.definition, [...(gone.get(was.definition) ?? []), name]);
    }
    for (const [name, names] of gone) {
      const definition = current.get(name);
      const deploymentId = definition?.status?.deploymentId;
      const running = live.filter(
        (i) => i.spec.definition === name && i.spec.deploymentId === deploymentId,
      ).length;
      const short = Math.max(0, (definition?.spec.replicas ?? 1) - running);
      findings.lostInstances.push(...names.slice(0, short));
    }
    for (const definition of definitions) {
      const name = definition.metadata.name ?? "";
      const wanted = definition.spec.replicas ?? 1;
      const status = definition.status;
      const addresses = status?.addresses ?? [];
      const answering = await Promise.all(
        addresses.map(async (address) => (await httpGet(`${address}/`, PROBE_TIMEOUT_MS))?.status === 200),
      );
      const ok =
        status?.observedGeneration === definition.metadata.generation &&
        (status?.readyReplicas ?? 0) >= wanted &&
        addresses.length === wanted &&
        answering.every(Boolean) &&
        live.filter((i) => i.spec.definition === name && i.spec.deploymentId === status?.deploymentId)
          .length === wanted;
      if (!ok) {
        findings.unmetDefinitions.push(
          `${name}: ${status?.readyReplicas ?? 0}/${wanted} ready, ${answering.filter(Boolean).length}/${addresses.length} listed addresses answer`,
        );
      }
    }
    return findings;
  }

  /**
   * Waits until a look finds the namespace whole; returns when that was (or undefined after
   * timeoutMs) and the last findings.
   */
  async settle(timeoutMs: number): Promise<{ settledAt: number | undefined; findings: SettleFindings }> {
    const deadline = Date.now() + timeoutMs;
    let findings: SettleFindings | undefined;
    for (;;) {
      const at = Date.now();
      findings = await this.look().catch((err: unknown): SettleFindings => ({
        orphanContainers: [],
        instancesWithoutContainer: [],
        lostInstances: [],
        unmetDefinitions: [`the look failed: ${(err as Error).message}`],
        unreachableEngines: [],
      }));
      if (findingsClean(findings)) {
        // Whole: what is live now is what a later fault may lose.
        this.baseline = baselineOf(this.lastLive);
        return { settledAt: at, findings };
      }
      if (Date.now() > deadline) return { settledAt: undefined, findings };
      await sleep(250);
    }
  }
}

/** A scenario's view of one checker run: wait for the namespace to be whole, then the figures. */
export interface CheckerWatch {
  /** The milliseconds waited until every invariant held at once, or undefined after timeoutMs. */
  settle(timeoutMs: number): Promise<number | undefined>;
  /** Stops sampling: what was seen throughout, and what the last look after settling found. */
  stop(): Promise<InvariantObservations>;
}

/**
 * The checker for scenarios written against start/settle/stop alone (the control-plane
 * scenarios take it as a parameter): one InvariantChecker per scenario namespace.
 */
export const machineChecker = {
  async start(cluster: FaultCluster, namespace: string): Promise<CheckerWatch> {
    const checker = new InvariantChecker(cluster as SuiteCluster, namespace);
    await checker.start();
    let last: SettleFindings | undefined;
    return {
      async settle(timeoutMs) {
        const began = Date.now();
        const { settledAt, findings } = await checker.settle(timeoutMs);
        last = findings;
        return settledAt === undefined ? undefined : settledAt - began;
      },
      async stop() {
        const seen = await checker.stop();
        const findings = last ?? (await checker.look());
        return {
          ...seen,
          orphanContainers: findings.orphanContainers,
          instancesWithoutContainer: findings.instancesWithoutContainer,
          lostInstances: findings.lostInstances,
          unmetDefinitions: findings.unmetDefinitions,
        };
      },
    };
  },
};
