/**
 * Deleting a Definition: its finalizer (berth.dev/instances) stays until every Instance it
 * owns is gone, and an Instance is gone only once its agent removed the container (or the
 * node lifecycle gave up on a lost node). So when the Definition disappears, nothing of
 * it runs anywhere. The same path serves namespace deletion: the namespace controller
 * deletes the Definition, and this cleanup runs before the namespace can go.
 */
import { DEFINITION_FINALIZER } from "../../api/vocabulary.js";
import { type Definition, type Instance } from "../../api/types.js";
import { INSTANCES, DEFINITIONS } from "../../kube/resources.js";
import { isNotFound } from "../../kube/errors.js";
import { finalize } from "../../runtime/finalizers.js";
import type { Logger } from "../../runtime/log.js";
import type { ControllerContext } from "../context.js";
import { objectKey } from "../../runtime/informer.js";
import type { InstanceChanges } from "./instance-changes.js";

/** Re-check a Definition being deleted at least this often (events normally come sooner). */
export const DELETION_RECHECK_MS = 15_000;

/**
 * Deletes the Instances still there and removes the finalizer once none is left.
 * Returns true when the finalizer was removed.
 */
export async function finalizeDefinition(
  context: ControllerContext,
  definition: Definition,
  owned: readonly Instance[],
  log: Logger,
  /** Deletes each Instance once, however often a lagging cache still shows it. */
  changes: Pick<InstanceChanges, "deleteOnce">,
): Promise<boolean> {
  return await finalize(context.client, DEFINITIONS, definition, DEFINITION_FINALIZER, async () => {
    await changes.deleteOnce(objectKey(definition), owned);
    if (owned.length > 0) {
      log.info("waiting for instances to be removed", { remaining: owned.length });
      return false;
    }
    context.events.event(
      definition,
      "Normal",
      "InstancesRemoved",
      "Every Instance is removed; the Definition can go.",
    );
    return true;
  });
}

/** Deletes Instances by name with a uid precondition (never a newer object of the same name). */
export async function deleteInstances(
  context: ControllerContext,
  instances: readonly Instance[],
): Promise<void> {
  for (const instance of instances) {
    const ref = { namespace: instance.metadata.namespace, name: instance.metadata.name ?? "" };
    try {
      const uid = instance.metadata.uid;
      await context.client.delete(INSTANCES, ref, uid ? { preconditions: { uid } } : {});
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
  }
}
