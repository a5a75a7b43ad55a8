/**
 * A FaultCluster for developing the control-plane scenarios on one host, before (and
 * beside) the namespaced machines: each machine is an extra Docker engine of
 * hack/engines.sh (publishing on 127.0.0.N, so it looks like a host of its own) with a
 * `berth agent` child process, and the control plane is LocalFaultControlPlane. What only a
 * machine in its own network namespace can do (cut it off, freeze or fill its engine) is
 * refused with an error saying so.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import type { FaultCluster, FaultMachine } from "./contract.js";
import { BerthChild, LocalFaultControlPlane } from "./control-plane.js";
import {
  DEFINITION_FINALIZER,
  INSTANCE_FINALIZER,
  nodeLeaseName,
} from "../../controller/src/api/vocabulary.js";
import { nodeIsReady } from "../../controller/src/api/vocabulary.js";
import { newKubeClient, type KubeClient } from "../../controller/src/kube/client.js";
import { ignoreNotFound } from "../../controller/src/kube/errors.js";
import { DEFINITIONS, INSTANCES, LEASES, NAMESPACES, NODES } from "../../controller/src/kube/resources.js";
import { removeFinalizer } from "../../controller/src/runtime/finalizers.js";
import { engines, startExtraEngine, stopExtraEngine, waitFor } from "../harness/index.js";

export const LEASE_NAMESPACE = "berth-system";

/** The agents' heartbeat and resync timings: what bounds how fast a lost Node is noticed. */
export const AGENT_TIMINGS = {
  leaseDuration: "3s",
  leaseRenewInterval: "1s",
  statusInterval: "2s",
  stopGracePeriod: "2s",
  resyncInterval: "2s",
} as const;

/** The KubeClient of a kubeconfig file (one per file, shared). */
const clients = new Map<string, KubeClient>();
export function kubeClientFor(kubeconfig: string): KubeClient {
  let client = clients.get(kubeconfig);
  if (!client) {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    client = newKubeClient(kc);
    clients.set(kubeconfig, client);
  }
  return client;
}

class EngineMachine implements FaultMachine {
  readonly dockerSocket: string;
  private readonly agent: BerthChild;

  constructor(
    readonly name: string,
    readonly engine: number,
    readonly address: string,
    url: string,
    stateDir: string,
    private readonly kube: KubeClient,
    kubeconfig: string,
  ) {
    this.dockerSocket = url.replace(/^unix:\/\//, "");
    this.agent = new BerthChild(
      "agent",
      [
        "--metrics-bind-address=127.0.0.1:0",
        "--log-level=warn",
        `--node-name=${name}`,
        `--url=${url}`,
        `--address=${address}`,
        `--node-lease-namespace=${LEASE_NAMESPACE}`,
        `--node-lease-duration=${AGENT_TIMINGS.leaseDuration}`,
        `--node-lease-renew-interval=${AGENT_TIMINGS.leaseRenewInterval}`,
        `--node-status-interval=${AGENT_TIMINGS.statusInterval}`,
        `--stop-grace-period=${AGENT_TIMINGS.stopGracePeriod}`,
        `--agent-resync-interval=${AGENT_TIMINGS.resyncInterval}`,
        `--state-dir=${stateDir}`,
      ],
      { KUBECONFIG: kubeconfig },
    );
  }

  async killDockerd(): Promise<void> {
    await engines("kill", String(this.engine));
  }

  async startDockerd(): Promise<void> {
    await engines("start", String(this.engine));
  }

  async killAgent(): Promise<void> {
    await this.agent.kill();
  }

  async startAgent(): Promise<void> {
    this.agent.start();
    await waitFor(
      `the agent of ${this.name} registered and Ready`,
      async () => {
        if (!this.agent.running()) throw new Error(`agent exited:\n${this.agent.output()}`);
        const node = await this.kube.get(NODES, { name: this.name });
        return nodeIsReady(node);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${this.agent.output()}`);
    });
  }

  output(): string {
    return this.agent.output();
  }

  async stopAgent(): Promise<void> {
    await this.agent.stop();
  }

  freezeDockerd(): Promise<void> {
    return onlyOnMachines("freezeDockerd");
  }
  thawDockerd(): Promise<void> {
    return onlyOnMachines("thawDockerd");
  }
  cutFromApiServer(): Promise<void> {
    return onlyOnMachines("cutFromApiServer");
  }
  heal(): Promise<void> {
    return onlyOnMachines("heal");
  }
  fillDisk(): Promise<void> {
    return onlyOnMachines("fillDisk");
  }
  freeDisk(): Promise<void> {
    return onlyOnMachines("freeDisk");
  }
}

function onlyOnMachines(what: string): Promise<never> {
  return Promise.reject(
    new Error(`${what} needs the namespaced test machines (hack/machines.sh), not the development cluster`),
  );
}

export interface DevFaultCluster extends FaultCluster {
  readonly controlPlane: LocalFaultControlPlane;
  readonly kube: KubeClient;
  /** Stops every process, releases what the scenarios left, stops the engines. */
  close(): Promise<void>;
  /** The Berth processes' recent output, for a failure's record. */
  outputs(): string;
}

/** Starts `machines` extra engines with an agent each, the controller and the registry replicas. */
export async function startDevCluster(kubeconfig: string, machines = 3): Promise<DevFaultCluster> {
  const kube = kubeClientFor(kubeconfig);
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-faults-"));
  const run = randomBytes(3).toString("hex");
  const started: EngineMachine[] = [];
  const namespaces: string[] = [];
  let controlPlane: LocalFaultControlPlane | undefined;
  const close = async (): Promise<void> => {
    await controlPlane?.close();
    for (const machine of started) await machine.stopAgent();
    for (const namespace of namespaces) await release(kube, namespace);
    for (const machine of started) {
      await stopExtraEngine(machine.engine).catch(() => undefined);
      await ignoreNotFound(kube.delete(NODES, { name: machine.name }));
      await ignoreNotFound(
        kube.delete(LEASES, { namespace: LEASE_NAMESPACE, name: nodeLeaseName(machine.name) }),
      );
    }
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < machines; i++) {
      const engine = await startExtraEngine();
      const name = `fault-${run}-${engine.number}`;
      started.push(
        new EngineMachine(
          name,
          engine.number,
          engine.address,
          engine.url,
          path.join(stateDir, name),
          kube,
          kubeconfig,
        ),
      );
    }
    for (const machine of started) await machine.startAgent();
    controlPlane = await LocalFaultControlPlane.start({ kubeconfig });
  } catch (err) {
    await close();
    throw err;
  }
  const plane = controlPlane;
  return {
    machines: started,
    controlPlane: plane,
    kube,
    namespace: async (prefix: string) => {
      const name = `${prefix}-${randomBytes(3).toString("hex")}`;
      await kube.create(NAMESPACES, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
      namespaces.push(name);
      return name;
    },
    close,
    outputs: () =>
      [
        `--- controller\n${plane.output("controller")}`,
        ...started.map((m) => `--- agent ${m.name}\n${m.output()}`),
        ...plane.registryUrls().map((url, i) => `--- registry ${url}\n${plane.output(i)}`),
      ].join("\n"),
  };
}

/**
 * Deletes a scenario's namespace after the Berth processes stopped: what a scenario left
 * (a failed one may leave something nobody will finish) loses its finalizers first; the
 * engines' containers go when the engines stop.
 */
async function release(kube: KubeClient, namespace: string): Promise<void> {
  for (const definition of (await kube.list(DEFINITIONS, { namespace })).items) {
    await ignoreNotFound(removeFinalizer(kube, DEFINITIONS, definition, DEFINITION_FINALIZER));
  }
  for (const instance of (await kube.list(INSTANCES, { namespace })).items) {
    await ignoreNotFound(removeFinalizer(kube, INSTANCES, instance, INSTANCE_FINALIZER));
  }
  await ignoreNotFound(kube.delete(NAMESPACES, { name: namespace }));
}
