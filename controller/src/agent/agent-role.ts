/**
 * The agent (Berth's kubelet): registers and heartbeats its Node, reconciles the
 * Instances bound to it into containers, probes them, and collects containers nobody
 * wants. startAgent wires the parts; the CLI runs it alone or next to the controller.
 */
import { DockerEngine } from "../docker/engine.js";
import { readEngineTls } from "../docker/tls.js";
import type { KubeClient } from "../kube/client.js";
import type { Clock } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import type { EventRecorder } from "../runtime/events.js";
import { KubeEventRecorder } from "../runtime/events.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { Manager } from "../runtime/manager.js";
import type { AgentContext, AgentEngine, AgentState } from "./agent-parts.js";
import { addInstanceController, addRunnables } from "./agent-parts.js";
import type { AgentOptions, AgentOptionsInput } from "./options.js";
import { resolveAgentOptions } from "./options.js";
import { BuildFailures } from "./build-failures.js";
import { CrashRecords } from "./crash-records.js";
import { PrivateImages } from "./private-images.js";
import type { NodeIdentity } from "./registration.js";
import { registerNode } from "./registration.js";
import { resolveBindAddress } from "./bind-address.js";
import { agentIdentity, lockAgentState } from "./identity.js";
import { resolveInstallation } from "./installation.js";

export interface AgentDeps {
  client: KubeClient;
  /** The engine at options.url; one is made from the URL when absent. */
  docker?: AgentEngine;
  logger: Logger;
  clock?: Clock;
  /** Where Instance events go; Kubernetes Events by default. */
  events?: EventRecorder;
  /** This agent's identity on its Node's Lease; by default the one kept in its state directory. */
  agentId?: string;
  /** Called when the agent stops on its own (its Node was taken over by another agent). */
  onFatal?: (err: Error) => void;
}

export interface RunningAgent {
  agentId: string;
  nodeName: string;
  /** Stops everything, marks the Node not ready and releases its Lease. Running containers stay. */
  stop(): Promise<void>;
}

export async function startAgent(input: AgentOptionsInput, deps: AgentDeps): Promise<RunningAgent> {
  const options = resolveAgentOptions(input);
  const clock = deps.clock ?? realClock;
  const logger = deps.logger.child({ component: "agent", node: options.nodeName });
  const docker = deps.docker ?? engineFor(options, logger);
  const releaseLock = lockAgentState(options.stateDir);
  const agentId = deps.agentId ?? agentIdentity(options.stateDir, options.nodeName, options.url);
  const identity = nodeIdentity(options, agentId);
  let state: AgentState;
  try {
    state = await prepareState(options, identity, { client: deps.client, clock, logger });
  } catch (err) {
    releaseLock();
    throw err;
  }
  const context: AgentContext = {
    options,
    client: deps.client,
    docker,
    clock,
    logger,
    identity,
    state,
    inScope: (namespace) => options.watchNamespace === "" || namespace === options.watchNamespace,
  };
  const manager = new Manager({ client: deps.client, clock, logger });
  const parts = addInstanceController(context, manager, deps.events);
  let stop: () => Promise<void> = () => Promise.resolve();
  addRunnables(context, parts, manager, (err) => {
    logger.error("node taken over by another agent, stopping", errorFields(err));
    void stop().then(() => deps.onFatal?.(err));
  });
  stop = await runManager(manager, { logger, recorder: parts.recorder, releaseLock, agentId });
  logger.info("agent started", {
    agentId,
    url: options.url,
    address: options.address,
    bindAddress: state.bindAddress,
    installation: state.installation,
  });
  return { agentId, nodeName: options.nodeName, stop };
}

function engineFor(options: AgentOptions, logger: Logger): DockerEngine {
  return new DockerEngine({
    url: options.url,
    logger,
    ...(options.dockerTls ? { tls: readEngineTls(options.dockerTls) } : {}),
  });
}

function nodeIdentity(options: AgentOptions, agentId: string): NodeIdentity {
  return {
    nodeName: options.nodeName,
    url: options.url,
    address: options.address,
    labels: options.labels,
    ...(options.capacity ? { capacity: options.capacity } : {}),
    agentId,
    leaseNamespace: options.leaseNamespace,
    leaseDurationSeconds: Math.ceil(options.leaseDurationMs / 1000),
  };
}

async function prepareState(
  options: AgentOptions,
  identity: NodeIdentity,
  deps: { client: KubeClient; clock: Clock; logger: Logger },
): Promise<AgentState> {
  const { client, clock, logger } = deps;
  const installation = await resolveInstallation(client, options);
  const bindAddress = await resolveBindAddress(options, logger);
  // Read under the lock: only this process writes the record in the state directory.
  const privateImages = new PrivateImages(options.stateDir);
  const crashRecords = new CrashRecords(options.stateDir, clock.now(), (message) =>
    logger.warn("the crash-loop record could not be read", { problem: message }),
  );
  const buildFailures = new BuildFailures({
    stateDir: options.stateDir,
    clock,
    onUnreadable: (message) =>
      logger.warn("the record of failed builds could not be read", { problem: message }),
  });
  const { lease } = await registerNode(identity, { client, clock, logger });
  return { lease, installation, bindAddress, privateImages, crashRecords, buildFailures };
}

/**
 * Starts the Manager and waits until everything runs; returns the agent's stop, which
 * stops the Manager, flushes the Events and releases the state directory's lock once.
 */
async function runManager(
  manager: Manager,
  run: { logger: Logger; recorder: EventRecorder; releaseLock: () => void; agentId: string },
): Promise<() => Promise<void>> {
  const { logger, recorder, releaseLock } = run;
  const abort = new AbortController();
  const done = manager.start(abort.signal);
  try {
    await manager.started;
  } catch (err) {
    await done.catch(() => undefined);
    releaseLock();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      abort.abort();
      await done.catch((err: unknown) => logger.error("agent stopped with an error", errorFields(err)));
      if (recorder instanceof KubeEventRecorder) await recorder.flush();
      releaseLock();
      logger.info("agent stopped", { agentId: run.agentId });
    })();
    return stopping;
  };
}
