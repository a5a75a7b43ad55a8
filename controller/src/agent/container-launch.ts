/**
 * Starting an Instance's container: its limits are checked, its image is prepared (pulled
 * or built off the reconcile workers; until it is ready the status shows the step), then the
 * container is created and started. A container that does not start is removed again.
 *
 * Creates and starts hold one of the engine's start slots (--max-parallel-starts). An engine
 * starting many containers at once shares its CPU among all of them (runc, the shim, the
 * port proxy and firewall rules of each), so every one of a burst is slow; a few at a time
 * finish one after another, and the first are serving long before the last would have.
 */
import type { Instance } from "../api/types.js";
import { FIRST_UNPRIVILEGED_PORT } from "../api/vocabulary.js";
import type { ContainerInfo, ContainerSpec } from "../docker/types.js";
import { ImageNotFoundError } from "../docker/errors.js";
import type { ReconcileContext, Result } from "../runtime/controller.js";
import type { Slots } from "../runtime/slots.js";
import { errorFields } from "../runtime/log.js";
import { inspectOrUndefined } from "./container-facts.js";
import type { NodeAddressing, ResolvedImage } from "./container-request.js";
import { buildContainerSpec, checkResources, templateOf } from "./container-request.js";
import type { AgentDocker } from "./docker-port.js";
import type { DeliveredEnvironments, InstanceEnvironment } from "./environment.js";
import { instanceEnvironment } from "./environment.js";
import type { ImagePreparations } from "./image-preparation.js";
import { imageIdentityOf } from "./image-preparation.js";
import type { InstanceImages } from "./images.js";
import { preparingImage } from "./instance-observations.js";
import type { InstanceStatusWriter } from "./instance-status-writer.js";
import type { OwnStarts } from "./own-starts.js";
import type { RetryBackoff } from "./retry-backoff.js";
import type { StartCheck } from "./start-check.js";
import type { StartTrace } from "./start-trace.js";

/** A pass that left its image being pulled or built looks again this soon if nothing wakes it earlier. */
export const PREPARING_RECHECK_MS = 30_000;

export interface ContainerLauncherOptions {
  node: NodeAddressing;
  docker: AgentDocker;
  environments: DeliveredEnvironments;
  /** Whether this node's spec.allowPrivilegedPorts is true right now (asked only for a hostPort below 1024). */
  privilegedPortsAllowed: () => Promise<boolean>;
  stopGraceSeconds: number;
  images: InstanceImages;
  preparations: ImagePreparations;
  retries: RetryBackoff;
  startCheck: StartCheck;
  status: InstanceStatusWriter;
  /** The engine's start slots: creates and starts in flight at once; no bound when absent. */
  startSlots?: Slots;
  trace?: StartTrace;
  /** Told of each start before it is asked for, so that its engine event starts no pass; none when absent. */
  ownStarts?: OwnStarts;
}

/** A launch either waits (its image is being prepared, or the container exited at once) or runs. */
export type Launch = { wait: Result } | { running: ContainerInfo };

export class ContainerLauncher {
  constructor(private readonly options: ContainerLauncherOptions) {}

  async launch(
    key: string,
    instance: Instance,
    restarts: number,
    context: ReconcileContext,
  ): Promise<Launch> {
    // Limits the engine could never apply fail now, for good, not after a pull or build.
    checkResources(templateOf(instance));
    const environment = instanceEnvironment(instance, this.options.environments);
    // The pull or build goes on without this worker; its end wakes the Instance.
    const prepared = await this.options.preparations.prepare(key, imageIdentityOf(instance), (work) =>
      this.options.images.ensure(instance, work.report, work.signal, environment.pullAuth, work.slot),
    );
    if ("preparing" in prepared) {
      await this.options.status.write(instance, preparingImage(prepared.preparing, restarts));
      return { wait: { requeueAfterMs: PREPARING_RECHECK_MS } };
    }
    this.options.trace?.reached(key, "image_ready");
    const id = await this.createAndStart(key, instance, prepared.done, environment, restarts, context);
    this.options.retries.reset(key);
    this.options.startCheck.started(key, id);
    context.log.info("started container", { containerId: id, image: prepared.done.name, restarts });
    const started = await inspectOrUndefined(this.options.docker, id, context.signal);
    // It exited at once; the die event (or this requeue) takes it from here.
    return started?.state.running ? { running: started } : { wait: { requeueAfterMs: 1 } };
  }

  private async createAndStart(
    key: string,
    instance: Instance,
    image: ResolvedImage,
    environment: InstanceEnvironment,
    restarts: number,
    context: ReconcileContext,
  ): Promise<string> {
    const { node } = this.options;
    const privileged =
      instance.spec.hostPort !== undefined && instance.spec.hostPort < FIRST_UNPRIVILEGED_PORT;
    const spec = buildContainerSpec({
      instance,
      image,
      node,
      env: environment.env,
      restarts,
      privilegedPortsAllowed: privileged && (await this.options.privilegedPortsAllowed()),
      stopTimeoutSeconds: this.options.stopGraceSeconds,
    });
    const release = await this.options.startSlots?.acquire(context.signal);
    this.options.trace?.reached(key, "start_slot");
    try {
      return await this.createThenStart(key, spec, context);
    } finally {
      release?.();
    }
  }

  private async createThenStart(
    key: string,
    spec: ContainerSpec,
    context: ReconcileContext,
  ): Promise<string> {
    const { docker } = this.options;
    let id: string;
    try {
      id = await docker.createContainer(spec, { signal: context.signal });
    } catch (err) {
      // The image went after it was found: the retry looks again (and pulls it).
      if (err instanceof ImageNotFoundError) this.options.images.presence.forget(spec.image);
      throw err;
    }
    this.options.trace?.reached(key, "container_created");
    try {
      this.options.ownStarts?.starting(key, id);
      await docker.startContainer(id, { signal: context.signal });
      this.options.trace?.reached(key, "container_started");
    } catch (err) {
      // A container that never started is not worth keeping (a taken port fails here).
      await docker.removeContainer(id, { force: true }).catch((cleanupErr: unknown) => {
        context.log.warn("could not remove a container that failed to start", {
          containerId: id,
          ...errorFields(cleanupErr),
        });
      });
      throw err;
    }
    return id;
  }
}
