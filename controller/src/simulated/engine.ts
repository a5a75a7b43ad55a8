/**
 * SIMULATED RUNTIME: a Docker engine in memory, for scale measurements that run far more
 * containers than a machine could (the agent's `--runtime=simulated`, never the default).
 * Containers are records; start waits the configured latency, publishes a made-up port and
 * may crash at the configured rate; exec checks fail until the readiness delay has passed
 * since start; the event stream reports start, die and destroy as the engine would.
 * Everything above it (the agent's reconciler, prober, status writes, heartbeats) is the
 * real code. No test of the agent's behaviour on Docker uses it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentDeps } from "../agent/agent.js";
import { ContainerNotFoundError, ImageNotFoundError } from "../docker/errors.js";
import type { ContainerEvent, EngineEvent, EventStreamOptions } from "../docker/events.js";
import type { ContainerInfo, ContainerSpec, ContainerSummary, ImageInfo } from "../docker/spec.js";

type SimulatedDocker = NonNullable<AgentDeps["docker"]>;

/** How simulated containers behave. */
export interface SimulatedBehaviour {
  /** How long a start takes before the container runs. */
  startLatencyMs: number;
  /** How long after start an exec check first succeeds (the service "becoming ready"). */
  readinessDelayMs: number;
  /** The share of starts, from 0 to 1, after which the container exits at once with code 1. */
  failureRate: number;
}

export const IMMEDIATE: SimulatedBehaviour = { startLatencyMs: 0, readinessDelayMs: 0, failureRate: 0 };

/** The exit code of a simulated crash. */
export const SIMULATED_CRASH_EXIT_CODE = 1;

export class SimulatedEngine implements SimulatedDocker {
  readonly containers = new Map<string, ContainerInfo>();
  private readonly images = new Set<string>();
  private readonly listeners = new Set<(event: ContainerEvent) => void>();
  private next = 0;

  constructor(
    readonly url: string,
    images: string[],
    private readonly bindAddress: string,
    private readonly behaviour: SimulatedBehaviour = IMMEDIATE,
    /** A number in [0, 1); Math.random unless a test fixes it. */
    private readonly random: () => number = Math.random,
  ) {
    for (const image of images) this.images.add(image);
  }

  async ping(): Promise<void> {}

  async version() {
    return { version: "24.0.0", apiVersion: "1.43", os: "linux", arch: "amd64", kernelVersion: "simulated" };
  }

  async imageExists(image: string): Promise<boolean> {
    return this.images.has(image);
  }

  async inspectImage(image: string): Promise<ImageInfo> {
    if (!this.images.has(image)) throw new ImageNotFoundError("inspect_image", image, "No such image");
    return { id: `sha256:${image}`, repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
  }

  async pullImage(image: string): Promise<ImageInfo> {
    this.images.add(image);
    return await this.inspectImage(image);
  }

  async inspectDistribution(): Promise<string> {
    return "sha256:simulated";
  }

  async buildImage(): Promise<string> {
    throw new Error("the simulated engine does not build images");
  }

  async containerLogs(): Promise<string> {
    return "";
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    const id = `sim${(++this.next).toString(16).padStart(12, "0")}`;
    this.containers.set(id, {
      id,
      name: spec.name ?? id,
      image: spec.image,
      imageId: `sha256:${spec.image}`,
      labels: { ...spec.labels, "berth.dev/managed-by": "berth" },
      state: {
        status: "created",
        running: false,
        restarting: false,
        exitCode: 0,
        oomKilled: false,
        error: "",
      },
      restartCount: 0,
      ports: [],
      memoryBytes: spec.memoryBytes ?? 0,
      nanoCpus: spec.nanoCpus ?? 0,
      restartPolicy: spec.restartPolicy ?? { name: "no" },
      init: spec.init ?? true,
      createdAt: new Date().toISOString(),
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.mustGet(id);
    if (this.behaviour.startLatencyMs > 0) await sleep(this.behaviour.startLatencyMs);
    // Removed while it was starting: the engine answers as it would for a gone container.
    const container = this.mustGet(id);
    container.state = {
      ...container.state,
      status: "running",
      running: true,
      startedAt: new Date().toISOString(),
    };
    container.ports = [
      {
        containerPort: 8080,
        protocol: "tcp",
        hostIp: this.bindAddress,
        hostPort: 20000 + (this.next % 40000),
      },
    ];
    container.ipAddress = "172.30.0.2";
    this.emit("start", container);
    if (this.behaviour.failureRate > 0 && this.random() < this.behaviour.failureRate) {
      this.exit(container, SIMULATED_CRASH_EXIT_CODE);
    }
  }

  async inspectContainer(id: string): Promise<ContainerInfo> {
    return structuredClone(this.mustGet(id));
  }

  async stopContainer(id: string): Promise<void> {
    const container = this.mustGet(id);
    if (!container.state.running) return;
    this.exit(container, 143);
  }

  private exit(container: ContainerInfo, exitCode: number): void {
    container.state = {
      ...container.state,
      status: "exited",
      running: false,
      exitCode,
      finishedAt: new Date().toISOString(),
    };
    container.ports = [];
    this.emit("die", container);
  }

  async removeContainer(id: string): Promise<boolean> {
    const container = this.containers.get(id);
    if (!container) return false;
    this.containers.delete(id);
    this.emit("destroy", container);
    return true;
  }

  async listContainers(labels: Record<string, string> = {}): Promise<ContainerSummary[]> {
    return [...this.containers.values()]
      .filter((c) => Object.entries(labels).every(([key, value]) => c.labels[key] === value))
      .map((c) => ({
        id: c.id,
        name: c.name,
        image: c.image,
        labels: c.labels,
        state: c.state.status,
        status: "",
        ports: c.ports,
      }));
  }

  /** Every command "succeeds" once the readiness delay has passed since start, and fails before. */
  async exec(id: string) {
    const container = this.mustGet(id);
    const startedAt = container.state.startedAt ? Date.parse(container.state.startedAt) : NaN;
    const ready = container.state.running && Date.now() - startedAt >= this.behaviour.readinessDelayMs;
    return ready ? { exitCode: 0, output: "" } : { exitCode: 1, output: "not ready yet (simulated)" };
  }

  async *events(options: EventStreamOptions): AsyncGenerator<EngineEvent> {
    const pending: ContainerEvent[] = [];
    let wake: (() => void) | undefined;
    const listener = (event: ContainerEvent): void => {
      pending.push(event);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.listeners.add(listener);
    options.signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!options.signal.aborted) {
        const event = pending.shift();
        if (event) {
          yield event;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      this.listeners.delete(listener);
      options.signal.removeEventListener("abort", onAbort);
    }
  }

  private emit(action: ContainerEvent["action"], container: ContainerInfo): void {
    const labels = Object.fromEntries(
      Object.entries(container.labels).filter(([key]) => key.startsWith("berth.dev/")),
    );
    const event: ContainerEvent = {
      type: "container",
      action,
      containerId: container.id,
      labels,
      ...(action === "die" ? { exitCode: container.state.exitCode } : {}),
      time: Math.floor(Date.now() / 1000),
    };
    for (const listener of this.listeners) listener(event);
  }

  private mustGet(id: string): ContainerInfo {
    const container = this.containers.get(id);
    if (!container) throw new ContainerNotFoundError("inspect_container", id, "No such container");
    return container;
  }
}
