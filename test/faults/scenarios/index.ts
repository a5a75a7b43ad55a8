/** The fault matrix's scenarios, in the order the runner plays them. */
import { machineChecker } from "../checker.js";
import type { Scenario } from "../contract.js";
import { agentKilledStarting } from "./agent-killed-starting.js";
import { apiServerRestartScenario } from "./apiserver-restart.js";
import { controllerKillScenario } from "./controller-kill.js";
import { diskFullBuild, diskFullPull } from "./disk-full.js";
import { dockerdFrozen } from "./dockerd-frozen.js";
import { dockerdKilled } from "./dockerd-killed.js";
import { etcdCompactionScenario } from "./etcd-compaction.js";
import { machineCut } from "./machine-cut.js";
import { nodeDeletedScenario } from "./node-deleted.js";
import { registryReplicaKilledScenario } from "./registry-replica-killed.js";

export const SCENARIOS: Scenario[] = [
  machineCut,
  dockerdKilled,
  dockerdFrozen,
  agentKilledStarting,
  diskFullBuild,
  diskFullPull,
  apiServerRestartScenario(machineChecker),
  etcdCompactionScenario(machineChecker),
  controllerKillScenario(machineChecker),
  nodeDeletedScenario(machineChecker),
  registryReplicaKilledScenario(machineChecker),
];
