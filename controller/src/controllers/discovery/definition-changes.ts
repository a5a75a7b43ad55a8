/** Which changes of a Definition the discovery mirror looks at. */
import { isDeepStrictEqual } from "node:util";
import type { Definition } from "../../api/types.js";
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
  // managedFields is not in Berth's ObjectMeta type; the caches drop it, a test's objects may not.
  const {
    resourceVersion: _version,
    managedFields: _fields,
    ...metadata
  } = definition.metadata as Definition["metadata"] & { managedFields?: unknown };
  const published = getCondition(definition.status?.conditions, PUBLISHED_CONDITION);
  return { metadata, spec: definition.spec, published };
}
