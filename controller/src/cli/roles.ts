/** The roles of the berth command and the flags each one takes. */
import { agentFlags } from "../agent/flags.js";
import { controllerFlags } from "../controllers/flags.js";
import { registryFlags } from "../registry/flags.js";
import { runtimeFlags } from "../simulated/flags.js";
import { commonFlags, leaderFlags, mergeFlags } from "./flags.js";

export const ROLES = {
  controller: {
    summary:
      "Reconcile Definitions into scheduled Instances; watch node liveness. Runs under leader election.",
    flags: mergeFlags(commonFlags, leaderFlags, controllerFlags),
  },
  agent: {
    summary: "Run the Instances bound to this machine's Node on its Docker engine; heartbeat the Node.",
    flags: mergeFlags(commonFlags, agentFlags, runtimeFlags),
  },
  registry: {
    summary:
      "Serve the registry API (lookup, blocking queries, streams, self-registration) from informer caches. No leader lease: run any number.",
    flags: mergeFlags(commonFlags, registryFlags),
  },
  all: {
    summary:
      "Controller, agent and registry in one process (the local default). Leader election is off unless asked for.",
    flags: mergeFlags(
      commonFlags,
      { ...leaderFlags, leaderElect: { ...leaderFlags.leaderElect, default: false } },
      controllerFlags,
      agentFlags,
      runtimeFlags,
      registryFlags,
    ),
  },
} as const;

export type Role = keyof typeof ROLES;
