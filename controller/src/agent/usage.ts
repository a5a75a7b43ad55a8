import type { Instance } from "../api/types.js";
import {
  ContainerConfigError,
  parseCpuQuantity,
  parseMemoryQuantity,
  runSourceOf,
} from "./container-request.js";
import type { NodeUsage } from "./node-status.js";

/** What the Instances bound here claim: counted for the Node's allocatable. */
export function usageOf(instances: readonly Instance[]): NodeUsage {
  const usage: NodeUsage = { instances: 0, memoryBytes: 0, nanoCpus: 0 };
  for (const instance of instances) {
    if (instance.metadata.deletionTimestamp) continue;
    usage.instances++;
    // An external Instance is never bound to a Node, so it never reaches this list.
    const template = instance.spec.template;
    if (!template) continue;
    const resources = template.resources;
    try {
      if (resources?.memory) usage.memoryBytes += parseMemoryQuantity(resources.memory);
      if (resources?.cpus) usage.nanoCpus += parseCpuQuantity(resources.cpus);
      runSourceOf(template);
    } catch (err) {
      // An Instance with an invalid template claims nothing: its own status says why.
      if (!(err instanceof ContainerConfigError)) throw err;
    }
  }
  return usage;
}
