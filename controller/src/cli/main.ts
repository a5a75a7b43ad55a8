#!/usr/bin/env node
/**
 * The berth command: one binary, four roles.
 *
 *   berth controller   Definitions -> scheduled Instances, rollouts, node liveness (leader-elected)
 *   berth agent        one per Docker machine: runs the Instances bound to its Node
 *   berth registry     the registry API for services: lookup, watch, self-registration (any number)
 *   berth all          all three in one process against one engine (the local default)
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { agentOptionsFromFlags } from "../agent/options.js";
import { startAgent } from "../agent/agent-role.js";
import { StateDirError } from "../agent/state-dir.js";
import { controllerSettingsFromFlags } from "../controllers/flags.js";
import { startController } from "../controllers/controller-role.js";
import { registrySettingsFromFlags } from "../registry/flags.js";
import { startRegistry } from "../registry/registry-role.js";
import { UnknownContextError, loadKubeConfig } from "../kube/config.js";
import type { KubeClient } from "../kube/client.js";
import { newKubeClient } from "../kube/client.js";
import { FlagError, formatHelp, parseFlags, type FlagSpecs } from "../runtime/flags.js";
import { createLogger, errorFields, type LogFormat, type LogLevel, type Logger } from "../runtime/log.js";
import { collectProcessMetrics, leaderElectionMasterStatus, restClientMetrics } from "../runtime/metrics.js";
import type { ManagerLeaderElection } from "../runtime/manager.js";
import { ProbeServer } from "../runtime/server.js";
import { Shutdown } from "../runtime/shutdown.js";
import { parseHostPort } from "../runtime/flags.js";
import { COMMANDS, runCommand, type CommandName } from "./registry-commands.js";
import { ROLES, type Role } from "./roles.js";
import { simulatedFromFlags } from "../simulated/flags.js";
import { startSimulatedNodes } from "../simulated/nodes.js";
import { VERSION } from "../runtime/version.js";

function usage(): string {
  const lines = [
    `berth ${VERSION}: a service registry and deployer that runs on Kubernetes.`,
    "",
    "Usage: berth <role> [flags]      berth <role> --help lists the role's flags",
    "",
    "Roles:",
  ];
  for (const [name, role] of Object.entries(ROLES)) lines.push(`  ${name.padEnd(11)}${role.summary}`);
  lines.push("", "Commands:");
  for (const [name, command] of Object.entries(COMMANDS))
    lines.push(`  ${name.padEnd(11)}${command.summary}`);
  lines.push("  version    Print the version.");
  return lines.join("\n") + "\n";
}

async function main(argv: string[]): Promise<number> {
  const [roleName, ...rest] = argv;
  if (roleName === undefined || roleName === "--help" || roleName === "-h" || roleName === "help") {
    process.stdout.write(usage());
    return roleName === undefined ? 2 : 0;
  }
  if (roleName === "version" || roleName === "--version") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (roleName in COMMANDS) return await mainCommand(roleName as CommandName, rest);
  if (!(roleName in ROLES)) {
    process.stderr.write(`berth: unknown role "${roleName}"\n\n${usage()}`);
    return 2;
  }
  const role = roleName as Role;
  const values = roleFlags(role, rest);
  if (typeof values === "number") return values;
  const logger = createLogger({
    level: values.logLevel as LogLevel,
    format: values.logFormat as LogFormat,
    fields: { role },
  });
  try {
    await run(role, values, logger);
    return 0;
  } catch (err) {
    // A state directory that is not the agent's own is a setting to fix, like a bad flag.
    if (err instanceof FlagError || err instanceof StateDirError) {
      process.stderr.write(`berth ${role}: ${err.message}\n`);
      return 2;
    }
    logger.error("berth stopped with an error", errorFields(err));
    return 1;
  }
}

async function mainCommand(name: CommandName, args: string[]): Promise<number> {
  try {
    return await runCommand(name, args);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`berth ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** The role's flag values, or the exit code when there is nothing to run (--help, a bad flag). */
function roleFlags(role: Role, args: string[]): Record<string, unknown> | number {
  const specs: FlagSpecs = ROLES[role].flags;
  let parsed;
  try {
    parsed = parseFlags(specs, args);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`berth ${role}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(formatHelp(specs, `berth ${role} [flags]\n\n${ROLES[role].summary}`));
    return 0;
  }
  if (parsed.positional.length > 0) {
    process.stderr.write(`berth ${role}: unexpected argument "${parsed.positional[0]}"\n`);
    return 2;
  }
  return parsed.values as Record<string, unknown>;
}

function kubeConfigFromFlags(values: Record<string, unknown>): ReturnType<typeof loadKubeConfig> {
  try {
    return loadKubeConfig((values.kubeconfig as string) || undefined, {
      context: (values.context as string) || undefined,
    });
  } catch (err) {
    // A context that is not there is a wrong flag value: say which flag, and exit 2 like one.
    if (err instanceof UnknownContextError)
      throw new FlagError(`--context (BERTH_KUBE_CONTEXT): ${err.message}`);
    throw err;
  }
}

/** What every role of one process shares. */
interface RoleContext {
  values: Record<string, unknown>;
  client: KubeClient;
  logger: Logger;
  server: ProbeServer;
  shutdown: Shutdown;
}

async function run(role: Role, values: Record<string, unknown>, logger: Logger): Promise<void> {
  const shutdown = new Shutdown({ logger, deadlineMs: values.shutdownTimeout as number });
  shutdown.installSignalHandlers();
  const client = newKubeClient(kubeConfigFromFlags(values), { observer: restClientMetrics });
  collectProcessMetrics();

  const bind = parseHostPort(values.metricsBindAddress as string)!;
  const server = new ProbeServer({ host: bind.host, port: bind.port, logger });
  const served = await server.start();
  logger.info("berth started", {
    version: VERSION,
    metrics: `http://${served.host}:${served.port}/metrics`,
    namespace: (values.watchNamespace as string) || "(all)",
  });
  shutdown.onShutdown("probe-server", () => server.stop());
  const context: RoleContext = { values, client, logger, server, shutdown };

  try {
    const roleDone: Array<Promise<void>> = [];
    if (role === "agent" || role === "all") await runAgent(context);
    if (role === "controller" || role === "all") roleDone.push(runController(context, role === "all"));
    if (role === "registry" || role === "all") roleDone.push((await runRegistry(context)).done);
    server.addHealthzCheck("ping", () => undefined);
    await untilStopped(shutdown, roleDone);
  } catch (err) {
    // A role that could not start (a state directory refused, a Node held by another
    // agent) or ended: stop what did start, or the process would stay up serving probes.
    await shutdown.shutdown("failed").catch(() => undefined);
    throw err;
  }
  await shutdown.shutdown("stopping");
}

/** Runs until a signal starts the shutdown; a role that ends with an error ends the process. */
async function untilStopped(shutdown: Shutdown, roleDone: Array<Promise<void>>): Promise<void> {
  await Promise.race([
    new Promise<void>((resolve) =>
      shutdown.signal.addEventListener("abort", () => resolve(), { once: true }),
    ),
    ...roleDone.map((done) =>
      done.then(() => {
        if (!shutdown.signal.aborted) throw new Error("a role stopped unexpectedly");
      }),
    ),
  ]);
}

async function runAgent({ values, client, logger, server, shutdown }: RoleContext): Promise<void> {
  const options = agentOptionsFromFlags(values as never);
  const simulated = simulatedFromFlags(values as never);
  const agentDeps = {
    client,
    logger,
    onFatal: (err: Error) => {
      logger.error("agent stopped", errorFields(err));
      void shutdown.shutdown("agent stopped").finally(() => process.exit(1));
    },
  };
  const agent = simulated
    ? await startSimulatedNodes(options, simulated, agentDeps)
    : await startAgent(options, agentDeps);
  if (simulated) logger.warn("SIMULATED RUNTIME: no container runs", { nodes: simulated.nodes });
  server.addReadyzCheck("agent", () => undefined);
  shutdown.onShutdown("agent", () => agent.stop());
}

/** Starts the controller role; returns its end. */
function runController(
  { values, client, logger, server, shutdown }: RoleContext,
  withAgent: boolean,
): Promise<void> {
  const settings = controllerSettingsFromFlags(values as never);
  // In one process the heartbeat Leases the controller reads are the ones the agent writes,
  // and the agent's state directory (its repository mirrors) is on the controller's disk too.
  if (withAgent) {
    settings.leaseNamespace = values.leaseNamespace as string;
    settings.fileRepositories = {
      ...settings.fileRepositories,
      refused: [agentOptionsFromFlags(values as never).stateDir],
    };
  }
  const elect = values.leaderElect as boolean;
  const handle = startController(
    {
      ...settings,
      watchNamespace: values.watchNamespace as string,
      ...(elect ? { leaderElection: leaderElectionFromFlags(values) } : {}),
    },
    { client, logger },
  );
  if (!elect) leaderElectionMasterStatus.set({ name: values.leaderElectionId as string }, 1);
  server.addReadyzCheck("informers-synced", () => {
    if (!handle.manager.hasSynced()) throw new Error("caches have not synced yet");
  });
  shutdown.onShutdown("controller", () => handle.stop());
  return handle.done;
}

function leaderElectionFromFlags(values: Record<string, unknown>): ManagerLeaderElection {
  return {
    namespace: values.leaderElectionNamespace as string,
    name: values.leaderElectionId as string,
    identity: `${os.hostname()}-${randomBytes(4).toString("hex")}`,
    leaseDurationMs: values.leaderLeaseDuration as number,
    renewDeadlineMs: values.leaderRenewDeadline as number,
    retryPeriodMs: values.leaderRetryPeriod as number,
  };
}

/** Starts the registry role; returns its end. */
async function runRegistry({
  values,
  client,
  logger,
  server,
  shutdown,
}: RoleContext): Promise<{ done: Promise<void> }> {
  let settings;
  try {
    settings = registrySettingsFromFlags(values as never);
  } catch (err) {
    if (err instanceof RangeError) throw new FlagError(err.message);
    throw err;
  }
  const registry = await startRegistry(
    { ...settings, watchNamespace: values.watchNamespace as string },
    { client, logger },
  );
  logger.info("registry serving", {
    url: registry.url,
    anonymousLoopbackReads: settings.allowAnonymousLoopback,
  });
  server.addReadyzCheck("registry-caches-synced", () => {
    if (!registry.catalog.hasSynced()) throw new Error("the registry's caches have not synced yet");
  });
  shutdown.onShutdown("registry", () => registry.stop());
  return { done: registry.done };
}

process.exitCode = await main(process.argv.slice(2));
