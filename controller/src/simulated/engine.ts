/**
 * SIMULATED RUNTIME: a Docker engine in memory, for scale measurements that run far more
 * containers than a machine could (the agent's `--runtime=simulated`, never the default).
 * Containers are records; start waits the configured latency, publishes a made-up port and
 * may crash at the configured rate; exec checks fail until the readiness delay has passed
 * since start; the event stream reports start, die and destroy as the engine would.
 * Everything above it (the agent's reconciler, prober, status writes, heartbeats) is the
 * real code. The agent's unit-test engine (testing/fake-docker.ts) builds on it.
 */
import { LABELS } from "../api/vocabulary.js";
import type { Clock } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import type { AgentDeps } from "../agent/agent-role.js";
import { ContainerNotFoundError, ImageNotFoundError } from "../docker/errors.js";
import type { CallOptions, EngineInfo, PullOptions } from "../docker/options.js";
import type {
  ContainerEvent,
  EngineEvent,
  EventStreamOptions,
  ImageEvent,
  StreamRestartedEvent,
} from "../docker/events.js";
import type {
  ContainerInfo,
  ContainerSpec,
  ContainerSummary,
  ImageInfo,
  ImageSummary,
} from "../docker/types.js";

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
/** The exit code of a container stopped by the engine (SIGTERM). */
const STOPPED_EXIT_CODE = 143;
/** Published ports come from the dynamic range, as the engine's do. */
export const DYNAMIC_PORTS = { first: 32768, count: 65536 - 32768 };

export interface SimulatedEngineOptions {
  url: string;
  /** Images the engine holds from the start; others are "pulled" at once. */
  images?: string[];
  /** The host address started containers publish their port on. */
  bindAddress: string;
  behaviour?: SimulatedBehaviour;
  /** A number in [0, 1); Math.random unless a test fixes it. */
  random?: () => number;
  /** Milliseconds since the epoch for the containers' timestamps; Date.now unless a test fixes it. */
  now?: () => number;
  /** Where the start latency is waited; the real clock by default. */
  clock?: Clock;
  /** The id of the n-th container created (n from 1). */
  containerId?: (n: number) => string;
  /**
   * The host ports this engine publishes on, each held by one container at a time; engines
   * that share a Node address need ranges of their own. The whole dynamic range by default.
   */
  hostPorts?: { first: number; count: number };
}

export class SimulatedEngine implements SimulatedDocker {
  readonly url: string;
  readonly containers = new Map<string, ContainerInfo>();
  readonly images: Set<string>;
  private readonly listeners = new Set<(event: ContainerEvent) => void>();
  private readonly bindAddress: string;
  private readonly behaviour: SimulatedBehaviour;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly clock: Clock;
  private readonly containerId: (n: number) => string;
  /** Each container's number, from 1 in the order created: its address derives from it. */
  private readonly numbers = new Map<string, number>();
  private created = 0;
  private readonly hostPorts: { first: number; count: number };
  /** The host port each running container holds. */
  private readonly portHolders = new Map<number, string>();
  private lastPort = -1;

  constructor(options: SimulatedEngineOptions) {
    this.url = options.url;
    this.images = new Set(options.images ?? []);
    this.bindAddress = options.bindAddress;
    this.behaviour = options.behaviour ?? IMMEDIATE;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.clock = options.clock ?? realClock;
    this.containerId = options.containerId ?? ((n) => `sim${n.toString(16).padStart(12, "0")}`);
    this.hostPorts = options.hostPorts ?? DYNAMIC_PORTS;
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
    return { id: image, repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
  }

  async pullImage(image: string, _options?: PullOptions): Promise<ImageInfo> {
    this.images.add(image);
    return await this.inspectImage(image);
  }

  async inspectDistribution(_image: string): Promise<string> {
    return "sha256:0";
  }

  async buildImage(): Promise<string> {
    throw new Error("the simulated engine does not build images");
  }

  async containerLogs(_id: string): Promise<string> {
    return "";
  }

  async info(): Promise<EngineInfo> {
    return {
      name: "simulated",
      cpus: 2,
      memoryBytes: 8 * 1024 ** 3,
      containersRunning: [...this.containers.values()].filter((c) => c.state.running).length,
      rootDir: "",
    };
  }

  /** Builds nothing, so there is nothing for image garbage collection to list or remove. */
  async listImages(): Promise<ImageSummary[]> {
    return [];
  }

  async removeImage(): Promise<"removed" | "in-use" | "gone"> {
    return "gone";
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    const id = this.containerId(++this.created);
    this.numbers.set(id, this.created);
    this.containers.set(id, {
      id,
      name: spec.name ?? id,
      image: spec.image,
      imageId: spec.image,
      labels: { ...spec.labels, [LABELS.managedBy]: "berth" },
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
      createdAt: new Date(this.now()).toISOString(),
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.mustGet(id);
    if (this.behaviour.startLatencyMs > 0) await this.clock.sleep(this.behaviour.startLatencyMs);
    // Removed while it was starting: the engine answers as it would for a gone container.
    const container = this.mustGet(id);
    // Starting a running container changes nothing (the engine answers 304).
    if (container.state.running) return;
    const n = this.numbers.get(id) ?? 0;
    container.state = {
      ...container.state,
      status: "running",
      running: true,
      startedAt: new Date(this.now()).toISOString(),
    };
    container.ports = [
      { containerPort: 8080, protocol: "tcp", hostIp: this.bindAddress, hostPort: this.takePort(id) },
    ];
    container.ipAddress = `172.17.${Math.floor((n + 1) / 256) % 256}.${(n + 1) % 256}`;
    this.emit("start", container);
    if (this.behaviour.failureRate > 0 && this.random() < this.behaviour.failureRate) {
      this.finish(container, SIMULATED_CRASH_EXIT_CODE, this.now());
    }
  }

  async inspectContainer(id: string): Promise<ContainerInfo> {
    return structuredClone(this.mustGet(id));
  }

  async stopContainer(id: string, _graceSeconds?: number, _options?: CallOptions): Promise<void> {
    const container = this.mustGet(id);
    if (!container.state.running) return;
    this.finish(container, STOPPED_EXIT_CODE, this.now());
  }

  /** The next free host port after the last one handed out, as the engine picks them. */
  private takePort(id: string): number {
    for (let tried = 0; tried < this.hostPorts.count; tried++) {
      this.lastPort = (this.lastPort + 1) % this.hostPorts.count;
      const port = this.hostPorts.first + this.lastPort;
      if (!this.portHolders.has(port)) {
        this.portHolders.set(port, id);
        return port;
      }
    }
    throw new Error(`the simulated engine at ${this.url} has no free host port left`);
  }

  private releasePorts(container: ContainerInfo): void {
    for (const { hostPort } of container.ports) {
      if (this.portHolders.get(hostPort) === container.id) this.portHolders.delete(hostPort);
    }
  }

  /** The container's process ends with exitCode at finishedAt (ms since the epoch). */
  protected finish(container: ContainerInfo, exitCode: number, finishedAt: number): void {
    container.state = {
      ...container.state,
      status: "exited",
      running: false,
      exitCode,
      finishedAt: new Date(finishedAt).toISOString(),
    };
    this.releasePorts(container);
    container.ports = [];
    this.emit("die", container);
  }

  async removeContainer(id: string, _options?: CallOptions & { force?: boolean }): Promise<boolean> {
    const container = this.containers.get(id);
    if (!container) return false;
    this.containers.delete(id);
    this.numbers.delete(id);
    this.releasePorts(container);
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
  async exec(id: string, _command?: string[], _options?: CallOptions) {
    const container = this.mustGet(id);
    const startedAt = container.state.startedAt ? Date.parse(container.state.startedAt) : NaN;
    const ready = container.state.running && this.now() - startedAt >= this.behaviour.readinessDelayMs;
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

  /** No image of the simulated engine changes on its own: the stream stays open and quiet. */
  async *imageEvents(options: EventStreamOptions): AsyncGenerator<ImageEvent | StreamRestartedEvent> {
    options.onConnected?.();
    if (!options.signal.aborted) {
      await new Promise<void>((resolve) =>
        options.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
    }
    yield* [];
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
      time: Math.floor(this.now() / 1000),
    };
    for (const listener of this.listeners) listener(event);
  }

  protected mustGet(id: string): ContainerInfo {
    const container = this.containers.get(id);
    if (!container) throw new ContainerNotFoundError("inspect_container", id, "No such container");
    return container;
  }
}
