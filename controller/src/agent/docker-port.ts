/**
 * The part of the Docker module the agent uses, as a type: the agent takes a DockerEngine
 * in production and an in-memory stand-in in unit tests.
 */
import type { DockerEngine } from "../docker/engine.js";

export type AgentDocker = Pick<
  DockerEngine,
  | "url"
  | "ping"
  | "version"
  | "imageExists"
  | "inspectImage"
  | "pullImage"
  | "inspectDistribution"
  | "createContainer"
  | "startContainer"
  | "inspectContainer"
  | "stopContainer"
  | "removeContainer"
  | "listContainers"
  | "exec"
>;
