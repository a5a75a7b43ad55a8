/**
 * The fault matrix's contract: what a scenario may do to the machines and the control plane,
 * what the invariant checker observes, and what each scenario reports. The machines are
 * network namespaces (hack/machines.sh); the scenarios, the checker and the report generator
 * (docs/reliability.md) are written against these types only.
 */

import type { KubeClient } from "../../controller/src/kube/client.js";

/** One test machine: a network namespace with its own address, dockerd and agent. */
export interface FaultMachine {
  /** The Node's name. */
  readonly name: string;
  /** The machine's own address in the test subnet: its Node URL's host, its Instances' host. */
  readonly address: string;
  /** Where the test process reaches this machine's Docker engine (a unix socket path). */
  readonly dockerSocket: string;
  /** SIGKILL dockerd, as a crash would; containers keep running (live-restore). */
  killDockerd(): Promise<void>;
  /** Start dockerd again after killDockerd; resolves once it answers. */
  startDockerd(): Promise<void>;
  /** SIGSTOP dockerd (and its containerd): the engine stops answering, containers keep serving. */
  freezeDockerd(): Promise<void>;
  /** SIGCONT what freezeDockerd stopped. */
  thawDockerd(): Promise<void>;
  /** SIGKILL the agent process. */
  killAgent(): Promise<void>;
  /** Start the agent again (same flags, same state directory); resolves once it runs. */
  startAgent(): Promise<void>;
  /** Drop this machine's traffic to the API server; its containers keep answering the checker. */
  cutFromApiServer(): Promise<void>;
  /** Undo cutFromApiServer. */
  heal(): Promise<void>;
  /** Fill the Docker data root's size-limited filesystem, leaving about `leaveBytes` free. */
  fillDisk(leaveBytes?: number): Promise<void>;
  /** Remove what fillDisk wrote. */
  freeDisk(): Promise<void>;
}

/** The control plane and Berth's own processes, as the scenarios may disturb them. */
export interface FaultControlPlane {
  /** KUBECONFIG for the test process (reaches the API server through the bridge). */
  readonly kubeconfig: string;
  /** Stop and start kube-apiserver (etcd keeps its data); resolves once it answers again. */
  restartApiServer(): Promise<void>;
  /** Write to etcd and compact it past the current revision, so watches get a real 410. */
  compactEtcd(): Promise<{ compactedRevision: number }>;
  /** SIGKILL the controller process / start it again. */
  killController(): Promise<void>;
  startController(): Promise<void>;
  /** The controller's Prometheus metrics text. */
  controllerMetrics(): Promise<string>;
  /** Registry replicas (`berth registry`), each with its own URL. */
  registryUrls(): string[];
  killRegistry(index: number): Promise<void>;
  startRegistry(index: number): Promise<void>;
  /** One registry replica's Prometheus metrics text. */
  registryMetrics(index: number): Promise<string>;
}

export interface FaultCluster {
  readonly machines: FaultMachine[];
  readonly controlPlane: FaultControlPlane;
  /** Writes and reads through the control plane's kubeconfig. */
  readonly client: KubeClient;
  /** A namespace of its own for one scenario; deleted (and awaited) by the runner afterwards. */
  namespace(prefix: string): Promise<string>;
}

/** What the checker saw over one scenario (sampled every ~100 ms). */
export interface InvariantObservations {
  /** The most containers seen at once for one Instance on one engine (must stay <= 1). */
  maxContainersPerInstance: number;
  /** Instances seen with a container on two engines at once. */
  duplicateInstancesSeen: number;
  /** The most containers a Definition ran beyond its desired count at once: a replacement
   * is a new Instance (names are never reused), so an old copy still serving beside its
   * replacement shows here rather than as a duplicate Instance. */
  maxExtraCopies?: number;
  /** The longest window with an Instance on two engines or a Definition over its count. */
  longestTwoCopiesMs: number;
  /** Longest window in which an address listed in a Definition's status did not answer. */
  longestNoAnswerMs: number;
  /** Longest window in which a Definition listed no answering address at all. */
  longestNoCopyMs: number;
  /** After settling: containers without an Instance, Instances without a container or reason,
   * Instances that vanished without being deleted, Definitions below their desired count. */
  orphanContainers: string[];
  instancesWithoutContainer: string[];
  lostInstances: string[];
  unmetDefinitions: string[];
}

export interface ScenarioResult {
  scenario: string;
  /** From the fault's start (or its end, for faults that last a set time) to all invariants met. */
  recoveryMs: number;
  observations: InvariantObservations;
  passed: boolean;
  /** Why it failed, or what a reader should know about the figures. */
  notes: string[];
  /** The settings that bound the figures (lease and grace durations, timeouts). */
  boundedBy: string[];
}

export interface Scenario {
  name: string;
  /** One sentence: what is done to the system. */
  fault: string;
  run(cluster: FaultCluster): Promise<ScenarioResult>;
}
