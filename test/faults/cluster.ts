/**
 * The fault matrix's cluster: three test machines (hack/machines.sh: network namespaces on
 * a private bridge, each with its own dockerd and a `berth agent` run inside it), a control
 * plane of the suite's own whose API server listens on the bridge's host address
 * (hack/controlplane.sh --bind-address), the controller and registry replicas as `berth`
 * processes on the host. Implements the contract's FaultCluster, FaultMachine and
 * FaultControlPlane.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { TestContext } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { nodeLeaseName } from "../../controller/src/api/vocabulary.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { ignoreNotFound } from "../../controller/src/kube/errors.js";
import { LEASES, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import {
  type BerthProcess,
  TEST_REPOSITORIES_DIR,
  freePortRun,
  run,
  startBerthProcess,
  waitFor,
} from "../harness/index.js";
import type { FaultCluster, FaultControlPlane, FaultMachine } from "./contract.js";

/**
 * Timings of the suite's agents and controller: short, so a scenario takes seconds, and the
 * figures in docs/reliability.md are bounded by these (the defaults are beside them there).
 * The eviction timeout stays above the 30 s an engine is frozen plus the ~15 s Docker call
 * timeout that notices it, so the frozen engine's Instances are kept, not replaced.
 */
export const TIMINGS = {
  leaseDuration: "6s",
  leaseRenewInterval: "1s",
  statusInterval: "2s",
  stopGracePeriod: "2s",
  resyncInterval: "2s",
  retryBackoffBase: "1s",
  retryBackoffMax: "5s",
  nodeGracePeriod: "4s",
  nodeEvictionTimeout: "30s",
  leaderLeaseDuration: "6s",
  leaderRenewDeadline: "4s",
  leaderRetryPeriod: "1s",
} as const;

/** Registry replicas the control plane runs (`berth registry`, each on its own loopback port). */
export const REGISTRY_REPLICAS = 2;

export const LEASE_NAMESPACE = "berth-system";
/** The label every machine's Node carries: the suite's Definitions select it. */
export const MACHINE_LABEL = { key: "berth.dev/fault-matrix", value: "machine" } as const;

/** Each Node also carries its own name under this label, so a Definition can aim at one machine. */
export const THIS_MACHINE_LABEL = "berth.dev/fault-machine";

const HACK = path.resolve(import.meta.dirname, "../../hack");

/** hack/<script> args...; fails with its output when it fails. */
export async function hack(script: string, args: string[], timeoutMs = 180_000): Promise<string> {
  const result = await run("bash", [path.join(HACK, script), ...args], { timeoutMs });
  if (result.code !== 0) {
    throw new Error(
      `hack/${script} ${args.join(" ")} failed (${result.code}):\n${result.stderr}${result.stdout}`,
    );
  }
  return result.stdout;
}

interface MachinesEnv {
  bridgeAddress: string;
  imageRegistry: string;
  tlsDir: string;
  machines: Array<{ number: number; netns: string; address: string; socket: string; dir: string }>;
}

function parseMachinesEnv(text: string): MachinesEnv {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const machines = [...values.entries()]
    .filter(([key]) => key.startsWith("MACHINE_"))
    .map(([key, value]) => {
      const [netns = "", address = "", socket = "", dir = ""] = value.split(" ");
      return { number: Number(key.slice("MACHINE_".length)), netns, address, socket, dir };
    })
    .sort((a, b) => a.number - b.number);
  return {
    bridgeAddress: values.get("BRIDGE_ADDRESS") ?? "",
    imageRegistry: values.get("IMAGE_REGISTRY") ?? "",
    tlsDir: values.get("TLS_DIR") ?? "",
    machines,
  };
}

/** Where the suite's control plane lives and listens. */
export function controlPlaneSettings(): { dir: string; port: number } {
  const state = process.env.BERTH_STATE ?? path.resolve(".berth/state");
  const port = Number(process.env.BERTH_FAULTS_APISERVER_PORT ?? 46463);
  return { dir: path.join(state, "faults-controlplane"), port };
}

export interface SuiteCluster extends FaultCluster {
  readonly machines: SuiteMachine[];
  readonly controlPlane: SuiteControlPlane;
  readonly client: KubeClient;
  readonly kc: k8s.KubeConfig;
  /** host:port of the image registry on the bridge, which every machine's engine trusts. */
  readonly imageRegistry: string;
  /** Namespaces made by namespace() that the runner has not removed yet. */
  readonly namespacesMade: string[];
  /** The machine whose Node has this name. */
  machine(nodeName: string): SuiteMachine | undefined;
}

/**
 * Brings the cluster up: machines, control plane, CRDs, controller, one agent per machine
 * (all Nodes Ready). Everything is torn down when `t` ends, also when it fails.
 */
export async function startCluster(t: TestContext, machineCount = 3): Promise<SuiteCluster> {
  const { dir, port } = controlPlaneSettings();
  t.after(async () => {
    await hack("controlplane.sh", ["stop", "--dir", dir]).catch((err: unknown) => console.error(err));
    await hack("machines.sh", ["stop"]).catch((err: unknown) => console.error(err));
  });
  const machinesEnv = parseMachinesEnv(await hack("machines.sh", ["start", String(machineCount)], 300_000));
  const bind = machinesEnv.bridgeAddress;
  // A fresh etcd each run: nothing of an earlier run (Nodes, Instances) is left to confuse this one.
  await hack("controlplane.sh", ["reset", "--dir", dir]);
  await hack(
    "controlplane.sh",
    ["start", "--dir", dir, "--port", String(port), "--bind-address", bind],
    300_000,
  );
  const kubeconfig = path.join(dir, "kubeconfig");
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  if (!kc.getCurrentCluster()?.server.includes(bind)) {
    throw new Error(`the suite's kubeconfig must reach the API server at ${bind}, not loopback`);
  }
  const client = newKubeClient(kc);
  const kubectl = path.join(process.env.HOME ?? "/root", ".cache/berth/bin/kube-1.34.4/kubectl");
  const kubectlEnv = { ...process.env, KUBECONFIG: kubeconfig };
  const crds = path.resolve(import.meta.dirname, "../../crds");
  for (const args of [
    ["apply", "--server-side", "--force-conflicts", "-k", crds],
    [
      "wait",
      "--for",
      "condition=Established",
      "--timeout=60s",
      "crd/definitions.berth.dev",
      "crd/instances.berth.dev",
      "crd/nodes.berth.dev",
    ],
    ["create", "namespace", LEASE_NAMESPACE],
  ]) {
    const result = await run(process.env.KUBECTL ?? kubectl, args, { env: kubectlEnv, timeoutMs: 90_000 });
    if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  }
  // The controller's metrics port, then a service port and a metrics port per registry replica.
  const firstPort = await freePortRun(1 + 2 * REGISTRY_REPLICAS);
  const controlPlane = new SuiteControlPlane(t, { dir, port, bind, kubeconfig, kc, firstPort });
  await controlPlane.startController();
  for (let index = 0; index < REGISTRY_REPLICAS; index++) await controlPlane.startRegistry(index);
  const machines = machinesEnv.machines.map(
    (m) =>
      new SuiteMachine(t, {
        ...m,
        name: `fault-m${m.number}`,
        tlsDir: machinesEnv.tlsDir,
        kubeconfig,
        apiserverPort: port,
        client,
      }),
  );
  t.after(async () => {
    for (const machine of machines) await machine.killAgent();
    await controlPlane.killController();
  });
  await Promise.all(machines.map((machine) => machine.startAgent()));
  const namespacesMade: string[] = [];
  return {
    namespacesMade,
    machines,
    controlPlane,
    client,
    kc,
    imageRegistry: machinesEnv.imageRegistry,
    machine: (nodeName) => machines.find((m) => m.name === nodeName),
    async namespace(prefix: string) {
      const name = `${prefix}-${randomBytes(3).toString("hex")}`;
      await client.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
      namespacesMade.push(name);
      return name;
    },
  };
}

interface MachineSettings {
  number: number;
  name: string;
  netns: string;
  address: string;
  socket: string;
  dir: string;
  tlsDir: string;
  kubeconfig: string;
  apiserverPort: number;
  client: KubeClient;
}

export class SuiteMachine implements FaultMachine {
  readonly name: string;
  readonly address: string;
  readonly dockerSocket: string;
  /** The engine URL the agent registers: the machine's address, TLS with a client certificate. */
  readonly engineUrl: string;
  /** The test process's view of the engine (its socket), with short timeouts for sampling. */
  readonly docker: DockerEngine;
  private agent: BerthProcess | undefined;

  constructor(
    private readonly t: TestContext,
    private readonly settings: MachineSettings,
  ) {
    this.name = settings.name;
    this.address = settings.address;
    this.dockerSocket = settings.socket;
    this.engineUrl = `tcp://${settings.address}:2376`;
    this.docker = new DockerEngine({ url: `unix://${settings.socket}`, timeouts: { requestMs: 1500 } });
  }

  private machineArgs(...args: string[]): string[] {
    return [args[0] ?? "", String(this.settings.number), ...args.slice(1)];
  }

  async killDockerd(): Promise<void> {
    await hack("machines.sh", this.machineArgs("dockerd-kill"));
  }
  async startDockerd(): Promise<void> {
    await hack("machines.sh", this.machineArgs("dockerd-start"));
  }
  async freezeDockerd(): Promise<void> {
    await hack("machines.sh", this.machineArgs("dockerd-freeze"));
  }
  async thawDockerd(): Promise<void> {
    await hack("machines.sh", this.machineArgs("dockerd-thaw"));
  }
  async cutFromApiServer(): Promise<void> {
    await hack("machines.sh", this.machineArgs("cut", String(this.settings.apiserverPort)));
  }
  async heal(): Promise<void> {
    await hack("machines.sh", this.machineArgs("heal", String(this.settings.apiserverPort)));
  }
  async fillDisk(leaveBytes = 64 * 1024): Promise<void> {
    await hack("machines.sh", this.machineArgs("fill", String(leaveBytes)));
  }
  async freeDisk(): Promise<void> {
    await hack("machines.sh", this.machineArgs("free"));
  }

  async killAgent(): Promise<void> {
    await this.agent?.kill();
    this.agent = undefined;
  }

  /** Whether the agent process runs (it may have exited on its own). */
  agentRunning(): boolean {
    return (
      this.agent !== undefined && this.agent.child.exitCode === null && this.agent.child.signalCode === null
    );
  }

  agentOutput(): string {
    return this.agent?.output() ?? "";
  }

  /** Starts `berth agent` inside the machine's namespace; resolves once its Node is Ready. */
  async startAgent(): Promise<void> {
    if (this.agentRunning()) return;
    const s = this.settings;
    const tls = (file: string) => path.join(s.tlsDir, file);
    const agent = startBerthProcess(
      this.t,
      "agent",
      [
        `--kubeconfig=${s.kubeconfig}`,
        `--node-name=${s.name}`,
        `--url=${this.engineUrl}`,
        `--docker-tls-ca=${tls("ca.pem")}`,
        `--docker-tls-cert=${tls("cert.pem")}`,
        `--docker-tls-key=${tls("key.pem")}`,
        `--address=${s.address}`,
        `--node-labels=${MACHINE_LABEL.key}=${MACHINE_LABEL.value},${THIS_MACHINE_LABEL}=${s.name}`,
        `--node-lease-namespace=${LEASE_NAMESPACE}`,
        `--node-lease-duration=${TIMINGS.leaseDuration}`,
        `--node-lease-renew-interval=${TIMINGS.leaseRenewInterval}`,
        `--node-status-interval=${TIMINGS.statusInterval}`,
        `--stop-grace-period=${TIMINGS.stopGracePeriod}`,
        `--agent-resync-interval=${TIMINGS.resyncInterval}`,
        `--retry-backoff-base=${TIMINGS.retryBackoffBase}`,
        `--retry-backoff-max=${TIMINGS.retryBackoffMax}`,
        `--state-dir=${path.join(s.dir, "agent")}`,
        `--allow-file-repositories=${TEST_REPOSITORIES_DIR}`,
        "--log-level=info",
      ],
      { BERTH_LOG_FORMAT: "text" },
      { launcher: ["nsenter", `--net=/var/run/netns/${s.netns}`] },
    );
    this.agent = agent;
    const startedAt = new Date();
    await waitFor(
      `agent of ${s.name} registered and Ready`,
      async () => {
        if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
        const lease = await s.client.get(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(s.name) });
        const renewed = Date.parse(lease.spec?.renewTime ?? "");
        if (!(renewed >= startedAt.getTime() - 1000)) return false;
        const node = await s.client.get(NODES, { name: s.name });
        return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nagent output:\n${agent.output()}`);
    });
  }

  /** Removes the machine's Node and Lease (after its agent is stopped). */
  async forget(): Promise<void> {
    await ignoreNotFound(this.settings.client.delete(NODES, { name: this.name }));
    await ignoreNotFound(
      this.settings.client.delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(this.name) }),
    );
  }
}

interface ControlPlaneSettings {
  dir: string;
  port: number;
  bind: string;
  kubeconfig: string;
  kc: k8s.KubeConfig;
  /** The controller's metrics port; registry replica i serves on firstPort+1+2i, its metrics one above. */
  firstPort: number;
}

export class SuiteControlPlane implements FaultControlPlane {
  readonly kubeconfig: string;
  private controller: BerthProcess | undefined;
  private readonly registries = new Map<number, BerthProcess>();

  constructor(
    private readonly t: TestContext,
    private readonly settings: ControlPlaneSettings,
  ) {
    this.kubeconfig = settings.kubeconfig;
  }

  /** Which control plane hack/controlplane.sh acts on, and where its API server listens. */
  private where(): string[] {
    const s = this.settings;
    return ["--dir", s.dir, "--port", String(s.port), "--bind-address", s.bind];
  }

  /**
   * hack/controlplane.sh start on the running control plane: nothing when etcd and the API
   * server answer, else whatever is down is started again on its data. The runner's repair
   * after every scenario, so a fault that was not undone cannot fail the scenarios after it.
   */
  async ensureRunning(): Promise<void> {
    await hack("controlplane.sh", ["start", ...this.where()], 300_000);
  }

  /** Stops kube-apiserver alone and starts it again on the same etcd data. */
  async restartApiServer(): Promise<void> {
    await hack("controlplane.sh", ["restart-apiserver", ...this.where()]);
  }

  /** hack/controlplane.sh compact-etcd: a compaction past every revision the API server's watches saw. */
  async compactEtcd(): Promise<{ compactedRevision: number }> {
    const printed = (await hack("controlplane.sh", ["compact-etcd", ...this.where()]))
      .trim()
      .split("\n")
      .pop();
    const compactedRevision = Number(printed);
    if (!Number.isInteger(compactedRevision) || compactedRevision <= 0) {
      throw new Error(`hack/controlplane.sh compact-etcd printed no revision: ${printed}`);
    }
    return { compactedRevision };
  }

  async killController(): Promise<void> {
    await this.controller?.kill();
    this.controller = undefined;
  }

  controllerOutput(): string {
    return this.controller?.output() ?? "";
  }

  /** The controller's Prometheus metrics text (its informers' relists, say). */
  async controllerMetrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.settings.firstPort}/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    return await res.text();
  }

  /** Registry replica `index`'s Prometheus metrics text (its open blocking queries, say). */
  async registryMetrics(index: number): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.registryPort(index) + 1}/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    return await res.text();
  }

  private registryPort(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= REGISTRY_REPLICAS) {
      throw new Error(`no registry replica ${index} (${REGISTRY_REPLICAS} run)`);
    }
    return this.settings.firstPort + 1 + 2 * index;
  }

  /** Starts `berth controller` (leader election on); resolves once its metrics answer. */
  async startController(): Promise<void> {
    if (this.controller && this.controller.child.exitCode === null) return;
    const controller = startBerthProcess(
      this.t,
      "controller",
      [
        `--kubeconfig=${this.kubeconfig}`,
        `--metrics-bind-address=127.0.0.1:${this.settings.firstPort}`,
        "--leader-elect=true",
        `--leader-lease-duration=${TIMINGS.leaderLeaseDuration}`,
        `--leader-renew-deadline=${TIMINGS.leaderRenewDeadline}`,
        `--leader-retry-period=${TIMINGS.leaderRetryPeriod}`,
        `--node-grace-period=${TIMINGS.nodeGracePeriod}`,
        `--node-eviction-timeout=${TIMINGS.nodeEvictionTimeout}`,
        `--node-lease-namespace=${LEASE_NAMESPACE}`,
        `--allow-file-repositories=${TEST_REPOSITORIES_DIR}`,
        "--log-level=info",
      ],
      { BERTH_LOG_FORMAT: "text" },
    );
    this.controller = controller;
    await answering(controller, `http://127.0.0.1:${this.settings.firstPort}/metrics`, "controller");
  }

  registryUrls(): string[] {
    return Array.from(
      { length: REGISTRY_REPLICAS },
      (_, index) => `http://127.0.0.1:${this.registryPort(index)}`,
    );
  }

  async killRegistry(index: number): Promise<void> {
    await this.registries.get(index)?.kill();
    this.registries.delete(index);
  }

  /** `berth registry` replica `index` on its loopback port; resolves once it answers. */
  async startRegistry(index: number): Promise<void> {
    const port = this.registryPort(index);
    if (this.registries.get(index)?.child.exitCode === null) return;
    const replica = startBerthProcess(
      this.t,
      "registry",
      [
        `--kubeconfig=${this.kubeconfig}`,
        `--registry-bind-address=127.0.0.1:${port}`,
        `--metrics-bind-address=127.0.0.1:${port + 1}`,
        "--registry-allow-anonymous-loopback",
      ],
      { BERTH_LOG_FORMAT: "text" },
    );
    this.registries.set(index, replica);
    await answering(
      replica,
      `http://127.0.0.1:${port}/v1/namespaces/default/services`,
      `registry replica ${index}`,
    );
  }
}

/** Waits until the process answers HTTP at url (any status below 500); fails if it exits. */
async function answering(process: BerthProcess, url: string, what: string): Promise<void> {
  await waitFor(
    `${what} answering at ${url}`,
    async () => {
      if (process.child.exitCode !== null) throw new Error(`${what} exited:\n${process.output()}`);
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
      return res !== undefined && res.status < 500;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}
