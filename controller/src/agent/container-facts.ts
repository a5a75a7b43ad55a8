/** Small facts about an Instance's containers, read from what Docker reports. */
import { DockerError } from "../docker/errors.js";
import type { ContainerInfo, ContainerSummary } from "../docker/types.js";
import { RESTARTS_LABEL } from "./container-request.js";
import type { AgentDocker } from "./docker-port.js";

/** Running containers first, then a stable order: the first is the one to keep. */
export function rankContainers(containers: ContainerSummary[]): ContainerSummary[] {
  return [...containers].sort((a, b) => {
    const running = Number(b.state === "running") - Number(a.state === "running");
    return running !== 0 ? running : a.id.localeCompare(b.id);
  });
}

/** The container, or undefined when it is gone (removed between a list and this inspect). */
export async function inspectOrUndefined(
  docker: Pick<AgentDocker, "inspectContainer">,
  id: string,
  signal: AbortSignal,
): Promise<ContainerInfo | undefined> {
  try {
    return await docker.inspectContainer(id, { signal });
  } catch (err) {
    if (err instanceof DockerError && err.reason === "ContainerNotFound") return undefined;
    throw err;
  }
}

/** The Instance's restart count when the container was created (its label). */
export function restartsLabelOf(container: ContainerInfo | undefined): number {
  const value = Number(container?.labels[RESTARTS_LABEL] ?? 0);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

/** How long a container ran before it exited (0 when the engine did not record it). */
export function ranMsOf(container: ContainerInfo, now: number): number {
  const startedAt = Date.parse(container.state.startedAt ?? "");
  const finishedAt = Date.parse(container.state.finishedAt ?? "") || now;
  return Number.isFinite(startedAt) ? Math.max(0, finishedAt - startedAt) : 0;
}

/** "container exited with code 3 after 0.2 s", with the engine's error or OOM when there was one. */
export function describeExit(container: ContainerInfo): string {
  const { state } = container;
  if (!state.startedAt) return `container ${container.id.slice(0, 12)} was created but never started`;
  const ran = (Date.parse(state.finishedAt ?? "") - Date.parse(state.startedAt)) / 1000;
  const after = Number.isFinite(ran) && ran >= 0 ? ` after ${ran.toFixed(1)} s` : "";
  const why = state.oomKilled ? " (killed: out of memory)" : state.error ? ` (${state.error})` : "";
  return `container exited with code ${state.exitCode}${after}${why}`;
}

/** A host for a URL: IPv6 literals in brackets. */
export function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
