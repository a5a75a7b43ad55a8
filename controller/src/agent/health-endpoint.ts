/**
 * Where a running container is reached: its published service port, and the address its
 * health (or liveness) check connects to. Pure: it reads the run template, the container's
 * published ports and address, and the host published ports are reached at.
 */
import type { HealthCheck, RunTemplate } from "../api/types.js";
import type { ContainerInfo } from "../docker/types.js";
import { hostPortFor } from "../docker/types.js";
import { bindsEveryInterface } from "./bind-address.js";
import type { NodeAddressing } from "./container-request.js";
import {
  ContainerConfigError,
  healthPortOf,
  healthPortPublished,
  servicePortOf,
} from "./container-request.js";

export interface HealthEndpoint {
  host: string;
  port: number;
}

/** Not checkable yet, and why. */
export interface WaitingFor {
  waitingFor: string;
}

/**
 * The host published ports are checked at: the one the agent was given, else the bind
 * address, or the node address when ports are bound to every interface.
 */
export function publishedHostOf(
  node: Pick<NodeAddressing, "address" | "bindAddress">,
  probeHost?: string,
): string {
  return probeHost ?? (bindsEveryInterface(node.bindAddress) ? node.address : node.bindAddress);
}

/**
 * Where http/tcp checks connect: the published service port (or the health port when it
 * asks to be published) where ports are bound, else the health port at the container's
 * own address, which is never published unless asked.
 */
export function healthEndpoint(
  publishedHost: string,
  template: RunTemplate,
  servicePort: number,
  serviceHostPort: number | undefined,
  container: Pick<ContainerInfo, "ports" | "ipAddress">,
  check: HealthCheck | undefined = template.healthCheck,
): HealthEndpoint | WaitingFor {
  const healthPort = healthPortOf(template, servicePort, check);
  const published = check?.type === "exec" || healthPort === servicePort;
  if (published || healthPortPublished(template, servicePort, check)) {
    const port = published ? serviceHostPort : hostPortFor(container.ports, healthPort);
    return port === undefined
      ? { waitingFor: `health port ${healthPort} is not published yet` }
      : { host: publishedHost, port };
  }
  return container.ipAddress
    ? { host: container.ipAddress, port: healthPort }
    : {
        waitingFor:
          `the container has no IP address to check health port ${healthPort} at ` +
          "(set healthCheck.publishPort to check it where it is published)",
      };
}

/** A running container's service port, where it is published, and where its health check connects. */
export interface ServiceEndpoints {
  servicePort: number;
  hostPort: number;
  health: HealthEndpoint;
}

/**
 * The endpoints of a running container, or what it still waits for. A container without
 * the service port label was not created by Berth this way: replacing it takes a new Instance.
 */
export function serviceEndpointsOf(
  publishedHost: string,
  template: RunTemplate,
  container: Pick<ContainerInfo, "id" | "labels" | "ports" | "ipAddress">,
): ServiceEndpoints | WaitingFor {
  const servicePort = servicePortOf(template, container.labels);
  if (servicePort === undefined) {
    throw new ContainerConfigError(
      "InvalidContainerSpec",
      `container ${container.id.slice(0, 12)} does not record its service port; delete the Instance to replace it`,
    );
  }
  const hostPort = hostPortFor(container.ports, servicePort);
  const health = healthEndpoint(publishedHost, template, servicePort, hostPort, container);
  if ("waitingFor" in health) return health;
  if (hostPort === undefined) return { waitingFor: `port ${servicePort} is not published yet` };
  return { servicePort, hostPort, health };
}
