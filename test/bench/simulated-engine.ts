/**
 * A Docker engine in memory, for benchmarks that churn far more containers than a machine
 * could run: containers are records, start publishes a made-up port, and the event stream
 * reports start, die and destroy as the engine would. Only the benchmarks use it; every
 * test of the agent's behaviour runs against a real engine.
 */
import type { AgentDeps } from "../../controller/src/agent/agent-role.js";
import { ContainerNotFoundError, ImageNotFoundError } from "../../controller/src/docker/errors.js";
import type { EngineInfo } from "../../controller/src/docker/options.js";
import type { ContainerEvent, EngineEvent, EventStreamOptions } from "../../controller/src/docker/events.js";
import type {
  ContainerInfo,
  ContainerSpec,
  ContainerSummary,
  ImageInfo,
  ImageSummary,
} from "../../controller/src/docker/types.js";

type SimulatedDocker = NonNullable<AgentDeps["docker"]>;

export class SimulatedEngine implements SimulatedDocker {
  readonly containers = new Map<string, ContainerInfo>();
  private readonly images = new Set<string>();
  private readonly listeners = new Set<(event: ContainerEvent) => void>();
  private next = 0;

  constructor(
    readonly url: string,
    images: string[],
    private readonly bindAddress: string,
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

  async info(): Promise<EngineInfo> {
    return {
      name: "simulated",
      cpus: 2,
      memoryBytes: 8 * 1024 ** 3,
      containersRunning: this.containers.size,
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
  }

  async inspectContainer(id: string): Promise<ContainerInfo> {
    return structuredClone(this.mustGet(id));
  }

  async stopContainer(id: string): Promise<void> {
    const container = this.mustGet(id);
    if (!container.state.running) return;
    container.state = {
      ...container.state,
      status: "exited",
      running: false,
      exitCode: 143,
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

  async exec() {
    return { exitCode: 0, output: "" };
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
