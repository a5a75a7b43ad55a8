export * from "./client.js";
export * from "./config.js";
export * from "./errors.js";
export * from "./patch.js";
export * from "./resources.js";
