/**
 * Whether a slug may be published at all, and which Definition owns what is published for
 * it: the discovery reconciler's two judgements that depend on nothing but their inputs.
 */
import type { Definition, Instance } from "../../api/types.js";
import { isExternalInstance } from "../../api/vocabulary.js";
import type { Service } from "../../kube/resources.js";
import { isBerthService, serviceNameProblem } from "./discovery.js";

export type Verdict = { status: "True" | "False"; reason: string; message: string };

/** Why nothing of the slug can be published, if so: a name no Service can have, or a Service not Berth's. */
export function refusalOf(
  namespace: string,
  slug: string,
  service: Service | undefined,
): Verdict | undefined {
  const nameProblem = serviceNameProblem(slug);
  if (nameProblem) return { status: "False", reason: "InvalidServiceName", message: nameProblem };
  if (service && !isBerthService(service)) {
    return {
      status: "False",
      reason: "ServiceNameTaken",
      message:
        `Service ${namespace}/${slug} exists and Berth did not create it (no label berth.dev/managed-by=berth, ` +
        `or not headless and selector-less): Berth leaves it alone and publishes no EndpointSlices for ` +
        `${slug}; delete or rename that Service to have its Instances published`,
    };
  }
  return undefined;
}

/**
 * The Definition that owns the Service (so deleting it takes the Service along), if any.
 * While a Definition is being deleted but external Instances of its slug remain, the
 * Service is let go of, so owner garbage collection leaves it to the external ones.
 */
export function serviceOwner(
  definition: Definition | undefined,
  instances: readonly Instance[],
): Definition | undefined {
  if (!definition) return undefined;
  if (definition.metadata.deletionTimestamp && instances.some(isExternalInstance)) return undefined;
  return definition;
}
