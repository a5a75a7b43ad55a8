/** Which changes of an Instance the discovery mirror looks at. */
import { isDeepStrictEqual } from "node:util";
import type { Instance, InstanceStatus } from "../../api/types.js";
import { metadataApartFromVersion } from "../../kube/bookkeeping.js";

/**
 * The status fields discovery reads: `ready` and `address` are what an Instance's endpoint
 * (instanceEntry, endpointOf) is made of, with its metadata (name, uid, deletion) and spec
 * (the slug, the Node, an external endpoint).
 */
type StatusRead = "ready" | "address";

/**
 * The status fields discovery does not read. The agent writes them on its way to Ready
 * (phase, conditions, message as it schedules, pulls and starts) and now and then
 * afterwards (lastProbeTime, restarts); the registry writes renewTime on heartbeats. The
 * Ready condition is not readiness here: its reason only explains an entry that is not
 * ready, and no slice carries that.
 */
const STATUS_PASSED_OVER = [
  "phase",
  "conditions",
  "message",
  "containerId",
  "restarts",
  "lastProbeTime",
  "firstReadyTime",
  "renewTime",
  "observedGeneration",
] as const;

// Every status field is in one of the two lists, so a new one needs a decision here.
type Unsorted = Exclude<keyof InstanceStatus, StatusRead | (typeof STATUS_PASSED_OVER)[number]>;
const everyStatusFieldSorted: [Unsorted] extends [never] ? true : Unsorted = true;
void everyStatusFieldSorted;

/**
 * Whether an Instance's change can change what discovery publishes (its slices, its
 * Service's owner, the Definition's Published condition). All of the metadata and spec
 * count, and of the status all but the fields above, so a status field added later wakes
 * a pass until someone decides otherwise. Adds and deletes always wake one.
 */
export function discoveryOfInstanceMayDiffer(before: Instance, after: Instance): boolean {
  return !isDeepStrictEqual(discoveryView(before), discoveryView(after));
}

function discoveryView(instance: Instance): unknown {
  const status: Record<string, unknown> = { ...instance.status };
  for (const field of STATUS_PASSED_OVER) delete status[field];
  return { metadata: metadataApartFromVersion(instance), spec: instance.spec, status };
}
