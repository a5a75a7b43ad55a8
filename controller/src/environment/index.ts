/**
 * An Instance's environment: resolved by the controller (resolve.ts) and delivered to the
 * agent of the Instance's Node through a Secret in that Node's namespace (delivery.ts).
 */
export * from "./delivery.js";
export * from "./resolve.js";
