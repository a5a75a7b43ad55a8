/**
 * Berth's node agent. The CLI runs it alone (role agent) or beside the controller (role all):
 *
 *   agentFlags, agentOptionsFromFlags(values, env?): AgentOptions   flags -> validated options
 *   resolveAgentOptions(input): AgentOptions                        options given in code, defaults filled
 *   startAgent(options, {client, docker?, logger, clock?, events?, agentId?, onFatal?})
 *     : Promise<{agentId, nodeName, stop(): Promise<void>}>
 *   NodeConflictError                                               another live agent holds the Node or URL
 */
export type { AgentFlagValues, AgentOptions, AgentOptionsInput } from "./config.js";
export { agentFlags, agentOptionsFromFlags, parseLabels, resolveAgentOptions } from "./config.js";
export type { AgentDeps, RunningAgent } from "./agent.js";
export { startAgent } from "./agent.js";
export { NodeConflictError } from "./registration.js";
export { RESTARTS_LABEL, containerName } from "./containerspec.js";
