/** The fault matrix's scenarios, in the order the runner plays them. */
import type { Scenario } from "../contract.js";
import { agentKilledStarting } from "./agent-killed-starting.js";
import { diskFullBuild, diskFullPull } from "./disk-full.js";
import { dockerdFrozen } from "./dockerd-frozen.js";
import { dockerdKilled } from "./dockerd-killed.js";
import { machineCut } from "./machine-cut.js";

export const SCENARIOS: Scenario[] = [
  machineCut,
  dockerdKilled,
  dockerdFrozen,
  agentKilledStarting,
  diskFullBuild,
  diskFullPull,
];
