/** Which stored objects a fake API server's list or watch selects: kind keys and equality selectors. */
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";
import { isPlainObject } from "./object-patches.js";

export function kindKey(resource: ResourceDescriptor): string {
  return resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
}

export function matchesLabels(obj: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = obj.metadata?.labels ?? {};
  return selector.split(",").every((term) => {
    const [key, value] = term.split("=") as [string, string | undefined];
    if (value === undefined) throw new Error(`FakeApiServer: label selector ${term} is not supported`);
    return labels[key] === value;
  });
}

export function matchesFields(obj: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [path, value] = term.split("=") as [string, string | undefined];
    if (value === undefined) throw new Error(`FakeApiServer: field selector ${term} is not supported`);
    let at: unknown = obj;
    for (const segment of path.split(".")) at = isPlainObject(at) ? at[segment] : undefined;
    return (at ?? "") === value;
  });
}
