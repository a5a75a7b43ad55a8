import type { CallOptions } from "../docker/options.js";
import type { PullOptions } from "../docker/options.js";
import { ContainerNotFoundError, ImageNotFoundError } from "../docker/errors.js";
import type { ContainerInfo, ContainerSpec, ContainerSummary } from "../docker/types.js";
import { LABELS } from "../api/vocabulary.js";
import type { AgentDocker } from "../agent/docker-port.js";

/**
 * An in-memory engine for the agent's unit tests: containers are records; start publishes
 * port 32768 + n. It records the calls made, for tests to assert their order.
 */
export class FakeDocker implements AgentDocker {
  readonly url = "unix:///fake/docker.sock";
  /** The host address started containers publish their ports on. */
  constructor(private readonly bindAddress = "127.0.0.1") {}
  readonly containers = new Map<string, ContainerInfo>();
  readonly images = new Set<string>(["app:1"]);
  readonly calls: string[] = [];
  /** What `docker logs` shows, per container. */
  readonly logs = new Map<string, string>();
  startError: Error | undefined;
  private next = 0;

  async ping(): Promise<void> {}
  async version() {
    return { version: "20.10.24", apiVersion: "1.41", os: "linux", arch: "amd64", kernelVersion: "6" };
  }
  async imageExists(image: string): Promise<boolean> {
    return this.images.has(image);
  }
  async inspectImage(image: string) {
    if (!this.images.has(image)) throw new ImageNotFoundError("inspect_image", image, "No such image");
    return { id: image, repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
  }
  async inspectDistribution(image: string): Promise<string> {
    this.calls.push(`inspect distribution ${image}`);
    return "sha256:0";
  }
  readonly pullAuths: Array<PullOptions["auth"]> = [];
  async pullImage(image: string, options: PullOptions = {}) {
    this.calls.push(`pull ${image}`);
    this.pullAuths.push(options.auth);
    this.images.add(image);
    return { id: image, repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
  }
  readonly createdEnv: Array<Record<string, string> | undefined> = [];
  async createContainer(spec: ContainerSpec): Promise<string> {
    const id = `c${++this.next}`;
    this.createdEnv.push(spec.env);
    this.calls.push(`create ${id}`);
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
      memoryBytes: 0,
      nanoCpus: 0,
      restartPolicy: { name: "no" },
      init: true,
      createdAt: "",
    });
    return id;
  }
  async startContainer(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    if (this.startError) throw this.startError;
    const container = this.mustGet(id);
    container.state = {
      ...container.state,
      status: "running",
      running: true,
      startedAt: "2025-01-01T00:00:00Z",
    };
    container.ports = [
      { containerPort: 8080, protocol: "tcp", hostIp: this.bindAddress, hostPort: 32767 + this.next },
    ];
    container.ipAddress = `172.17.0.${this.next + 1}`;
  }
  async inspectContainer(id: string): Promise<ContainerInfo> {
    return structuredClone(this.mustGet(id));
  }
  async stopContainer(id: string): Promise<void> {
    this.calls.push(`stop ${id}`);
  }
  async removeContainer(id: string, _options?: CallOptions & { force?: boolean }): Promise<boolean> {
    this.calls.push(`remove ${id}`);
    return this.containers.delete(id);
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
  async containerLogs(id: string): Promise<string> {
    return this.logs.get(id) ?? "";
  }
  /** The container's process ends, as a crash would. */
  exit(id: string, code: number, ranMs: number): void {
    const container = this.mustGet(id);
    const started = Date.parse(container.state.startedAt ?? "2025-01-01T00:00:00Z");
    container.state = {
      ...container.state,
      status: "exited",
      running: false,
      exitCode: code,
      finishedAt: new Date(started + ranMs).toISOString(),
    };
    container.ports = [];
  }
  private mustGet(id: string): ContainerInfo {
    const container = this.containers.get(id);
    if (!container) throw new ContainerNotFoundError("inspect_container", id, "No such container");
    return container;
  }
}
