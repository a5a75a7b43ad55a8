/**
 * The fault matrix's control plane: the local kube-apiserver and etcd of hack/controlplane.sh,
 * `berth controller` and `berth registry` replicas as child processes of the test, and the
 * faults the scenarios may do to them (FaultControlPlane). Each Berth process is a real
 * `berth <role>` that a SIGKILL ends as a crash would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FaultControlPlane } from "./contract.js";
import { BERTH_CLI, freePortRun, run, waitFor } from "../harness/index.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CONTROLPLANE_SH = path.join(ROOT, "hack/controlplane.sh");

/** The controller's liveness and leader timings in the fault matrix: what bounds recovery. */
export const CONTROLLER_TIMINGS = {
  nodeGracePeriod: "6s",
  nodeEvictionTimeout: "6s",
  leaderLeaseDuration: "6s",
  leaderRenewDeadline: "4s",
  leaderRetryPeriod: "1s",
} as const;

/** A `berth <role>` child process whose output is kept (the last 2000 lines) for failure messages. */
export class BerthChild {
  private child: ChildProcess | undefined;
  private readonly lines: string[] = [];

  constructor(
    readonly role: "controller" | "registry" | "agent",
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; one already running is left as it is. */
  start(): void {
    if (this.running()) return;
    const child = spawn(process.execPath, ["--import", "tsx", BERTH_CLI, this.role, ...this.args], {
      cwd: ROOT,
      env: { ...process.env, BERTH_LOG_FORMAT: "text", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (data: Buffer): void => {
      this.lines.push(...data.toString().split("\n").filter(Boolean));
      if (this.lines.length > 2000) this.lines.splice(0, this.lines.length - 2000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.child = child;
  }

  /** SIGKILL: no shutdown hook runs. Resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  /** SIGTERM, then SIGKILL if it has not ended within graceMs. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  output(): string {
    return this.lines.join("\n");
  }

  private async signal(name: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(name);
    await exited;
  }
}

export interface LocalControlPlaneOptions {
  kubeconfig: string;
  /** Registry replicas to run (each on its own loopback port). */
  registryReplicas?: number;
}

/**
 * FaultControlPlane over the local control plane (hack/controlplane.sh, with the test's
 * BERTH_STATE and BERTH_APISERVER_PORT) and Berth processes started here.
 */
export class LocalFaultControlPlane implements FaultControlPlane {
  readonly kubeconfig: string;
  private readonly controller: BerthChild;
  private readonly registries: BerthChild[] = [];
  private readonly registryPorts: number[] = [];
  private readonly controllerMetricsPort: number;

  private constructor(options: LocalControlPlaneOptions, firstPort: number) {
    this.kubeconfig = options.kubeconfig;
    const kube = { KUBECONFIG: options.kubeconfig };
    this.controllerMetricsPort = firstPort;
    this.controller = new BerthChild(
      "controller",
      [
        `--metrics-bind-address=127.0.0.1:${firstPort}`,
        "--log-level=info",
        "--leader-elect=true",
        `--leader-lease-duration=${CONTROLLER_TIMINGS.leaderLeaseDuration}`,
        `--leader-renew-deadline=${CONTROLLER_TIMINGS.leaderRenewDeadline}`,
        `--leader-retry-period=${CONTROLLER_TIMINGS.leaderRetryPeriod}`,
        `--node-grace-period=${CONTROLLER_TIMINGS.nodeGracePeriod}`,
        `--node-eviction-timeout=${CONTROLLER_TIMINGS.nodeEvictionTimeout}`,
      ],
      kube,
    );
    for (let i = 0; i < (options.registryReplicas ?? 2); i++) {
      const port = firstPort + 1 + 2 * i;
      this.registryPorts.push(port);
      this.registries.push(
        new BerthChild(
          "registry",
          [
            `--registry-bind-address=127.0.0.1:${port}`,
            `--metrics-bind-address=127.0.0.1:${port + 1}`,
            "--registry-allow-anonymous-loopback",
            "--log-level=warn",
          ],
          kube,
        ),
      );
    }
  }

  /** Starts the controller and the registry replicas; resolves once each answers. */
  static async start(options: LocalControlPlaneOptions): Promise<LocalFaultControlPlane> {
    const replicas = options.registryReplicas ?? 2;
    const plane = new LocalFaultControlPlane(options, await freePortRun(1 + 2 * replicas));
    await plane.startController();
    for (let i = 0; i < replicas; i++) await plane.startRegistry(i);
    return plane;
  }

  async restartApiServer(): Promise<void> {
    await controlplane("restart-apiserver");
  }

  /**
   * Compacts etcd past every revision the API server's watches on etcd have seen
   * (hack/controlplane.sh compact-etcd: etcd is out of the API server's reach for the few
   * seconds this takes). Every watch cache of the API server lists again and ends its
   * clients' watches; a client resuming from a resourceVersion it held gets 410 Gone.
   */
  async compactEtcd(): Promise<{ compactedRevision: number }> {
    const printed = (await controlplane("compact-etcd")).trim().split("\n").pop() ?? "";
    const compactedRevision = Number(printed);
    if (!Number.isInteger(compactedRevision) || compactedRevision <= 0) {
      throw new Error(`hack/controlplane.sh compact-etcd printed no revision: ${printed}`);
    }
    return { compactedRevision };
  }

  async killController(): Promise<void> {
    await this.controller.kill();
  }

  async startController(): Promise<void> {
    this.controller.start();
    await this.waitAnswering(this.controller, `http://127.0.0.1:${this.controllerMetricsPort}/metrics`);
  }

  /** The controller's Prometheus metrics text (to read, for example, its informers' relists). */
  async controllerMetrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.controllerMetricsPort}/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    return await res.text();
  }

  /** Registry replica `index`'s Prometheus metrics text (its open blocking queries, say). */
  async registryMetrics(index: number): Promise<string> {
    const port = this.registryPorts[index];
    if (port === undefined) throw new Error(`no registry replica ${index}`);
    const res = await fetch(`http://127.0.0.1:${port + 1}/metrics`, { signal: AbortSignal.timeout(5000) });
    return await res.text();
  }

  registryUrls(): string[] {
    return this.registryPorts.map((port) => `http://127.0.0.1:${port}`);
  }

  async killRegistry(index: number): Promise<void> {
    await this.registry(index).kill();
  }

  async startRegistry(index: number): Promise<void> {
    const registry = this.registry(index);
    registry.start();
    await this.waitAnswering(registry, `${this.registryUrls()[index]}/v1/namespaces/default/services`);
  }

  /** Stops every Berth process this control plane started (the API server and etcd stay). */
  async close(): Promise<void> {
    await Promise.all([this.controller.stop(), ...this.registries.map((r) => r.stop())]);
  }

  /** The output of the controller (or of registry replica `index`), for failure messages. */
  output(which: "controller" | number): string {
    return which === "controller" ? this.controller.output() : this.registry(which).output();
  }

  private registry(index: number): BerthChild {
    const registry = this.registries[index];
    if (!registry) throw new Error(`no registry replica ${index} (${this.registries.length} run)`);
    return registry;
  }

  private async waitAnswering(child: BerthChild, url: string): Promise<void> {
    await waitFor(
      `berth ${child.role} answering at ${url}`,
      async () => {
        if (!child.running()) throw new Error(`berth ${child.role} exited:\n${child.output()}`);
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        return res !== undefined && res.status < 500;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${child.output()}`);
    });
  }
}

async function controlplane(command: string): Promise<string> {
  const result = await run("bash", [CONTROLPLANE_SH, command], { timeoutMs: 180_000 });
  if (result.code !== 0) throw new Error(`hack/controlplane.sh ${command} failed: ${result.stderr}`);
  return result.stdout;
}

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf("}"));
    const matches = Object.entries(labels).every(([key, value]) => inside.includes(`${key}="${value}"`));
    if (matches) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}
