/** The fault matrix's scenarios, in the order the runner plays them. */
import type { Scenario } from "../contract.js";
import { agentKilledStarting } from "./agent-killed-starting.js";
import { apiServerRestart } from "./apiserver-restart.js";
import { controllerKill } from "./controller-kill.js";
import { diskFullBuild, diskFullPull } from "./disk-full.js";
import { dockerdFrozen } from "./dockerd-frozen.js";
import { dockerdKilled } from "./dockerd-killed.js";
import { etcdCompaction } from "./etcd-compaction.js";
import { machineCut } from "./machine-cut.js";
import { nodeDeleted } from "./node-deleted.js";
import { registryReplicaKilled } from "./registry-replica-killed.js";

export const SCENARIOS: Scenario[] = [
  machineCut,
  dockerdKilled,
  dockerdFrozen,
  agentKilledStarting,
  diskFullBuild,
  diskFullPull,
  apiServerRestart,
  etcdCompaction,
  controllerKill,
  nodeDeleted,
  registryReplicaKilled,
];
