/** Which changes of a Definition the discovery mirror looks at. */
import { isDeepStrictEqual } from "node:util";
import type { Definition } from "../../api/types.js";
import { metadataApartFromVersion } from "../../kube/bookkeeping.js";
import { getCondition } from "../../runtime/conditions.js";

/** The Definition condition that says whether the mirror publishes the Definition's Instances. */
export const PUBLISHED_CONDITION = "Published";

/**
 * Whether a Definition's change can change what discovery does. Of a Definition it reads
 * the metadata (there or not, going or not, its uid for owner references) and of the status
 * only its own Published condition, so the Definition controller's status writes (its
 * fields and conditions, several per Definition as its Instances turn ready) are no news to
 * it. Anything else still wakes a pass.
 */
export function discoveryOfDefinitionMayDiffer(before: Definition, after: Definition): boolean {
  return !isDeepStrictEqual(discoveryView(before), discoveryView(after));
}

function discoveryView(definition: Definition): unknown {
  const published = getCondition(definition.status?.conditions, PUBLISHED_CONDITION);
  return { metadata: metadataApartFromVersion(definition), spec: definition.spec, published };
}
