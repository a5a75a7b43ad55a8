import type { CallOptions, PullOptions } from "../docker/options.js";
import type { ContainerSpec } from "../docker/types.js";
import { SimulatedEngine } from "../simulated/engine.js";

/** The time every FakeDocker timestamp starts from: FakeClock's default start. */
const FAKE_EPOCH = Date.UTC(2025, 0, 1);

/**
 * An in-memory engine for the agent's unit tests: the simulated runtime's engine with
 * containers named c1, c2, ... (port 32767 + n), timestamps at FakeClock's start, and stops
 * that do nothing (a test ends a container with exit()). It records the calls made, for
 * tests to assert their order.
 */
export class FakeDocker extends SimulatedEngine {
  readonly calls: string[] = [];
  /** What `docker logs` shows, per container. */
  readonly logs = new Map<string, string>();
  readonly pullAuths: Array<PullOptions["auth"]> = [];
  readonly createdEnv: Array<Record<string, string> | undefined> = [];
  startError: Error | undefined;

  /** bindAddress: the host address started containers publish their ports on. */
  constructor(bindAddress = "127.0.0.1") {
    super({
      url: "unix:///fake/docker.sock",
      images: ["app:1"],
      bindAddress,
      now: () => FAKE_EPOCH,
      containerId: (n) => `c${n}`,
    });
  }

  override async inspectDistribution(image: string): Promise<string> {
    this.calls.push(`inspect distribution ${image}`);
    return await super.inspectDistribution(image);
  }
  override async pullImage(image: string, options: PullOptions = {}) {
    this.calls.push(`pull ${image}`);
    this.pullAuths.push(options.auth);
    return await super.pullImage(image, options);
  }
  override async createContainer(spec: ContainerSpec): Promise<string> {
    const id = await super.createContainer(spec);
    this.createdEnv.push(spec.env);
    this.calls.push(`create ${id}`);
    return id;
  }
  override async startContainer(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    if (this.startError) throw this.startError;
    await super.startContainer(id);
  }
  /** Recorded only: the container runs on until the test ends it with exit(). */
  override async stopContainer(id: string): Promise<void> {
    this.calls.push(`stop ${id}`);
  }
  override async removeContainer(id: string, options?: CallOptions & { force?: boolean }): Promise<boolean> {
    this.calls.push(`remove ${id}`);
    return await super.removeContainer(id, options);
  }
  override async containerLogs(id: string): Promise<string> {
    return this.logs.get(id) ?? "";
  }
  /** The container's process ends, as a crash would, ranMs after it started. */
  exit(id: string, code: number, ranMs: number): void {
    const container = this.mustGet(id);
    const started = Date.parse(container.state.startedAt ?? new Date(FAKE_EPOCH).toISOString());
    this.finish(container, code, started + ranMs);
  }
}
