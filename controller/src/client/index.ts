/**
 * Berth's registry client: `import { RegistryClient } from "berth/client"`. No dependency
 * beyond Node itself; see docs/registry.md.
 */
export { RegistryClient } from "./registry-client.js";
export type {
  LookupOptions,
  Registration,
  RegistrationHandle,
  RegistryClientOptions,
} from "./registry-client.js";
export { RoundRobin, type BalancerOptions } from "./balancer.js";
export { RegistryError, type RegistryInstance, type ServiceInstances } from "./types.js";
