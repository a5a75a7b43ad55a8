import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunTemplate } from "../api/types.js";
import type { PublishedPort } from "../docker/types.js";
import { ContainerConfigError, SERVICE_PORT_LABEL } from "./container-request.js";
import { healthEndpoint, publishedHostOf, serviceEndpointsOf } from "./health-endpoint.js";

const published = (containerPort: number, hostPort: number): PublishedPort => ({
  containerPort,
  hostPort,
  protocol: "tcp",
  hostIp: "10.0.0.5",
});

const template = (healthCheck?: RunTemplate["healthCheck"]): RunTemplate => ({
  image: { name: "app:1", port: 8080 },
  ...(healthCheck ? { healthCheck } : {}),
});

test("published ports are checked at the given probe host, else the bind address, else the node address for 0.0.0.0", () => {
  assert.equal(publishedHostOf({ address: "node.lan", bindAddress: "10.0.0.5" }, "127.0.0.1"), "127.0.0.1");
  assert.equal(publishedHostOf({ address: "node.lan", bindAddress: "10.0.0.5" }), "10.0.0.5");
  assert.equal(publishedHostOf({ address: "node.lan", bindAddress: "0.0.0.0" }), "node.lan");
});

test("a check on the service port goes where the service port is published", () => {
  const container = { ports: [published(8080, 32001)], ipAddress: "172.17.0.2" };
  assert.deepEqual(healthEndpoint("10.0.0.5", template({ type: "tcp" }), 8080, 32001, container), {
    host: "10.0.0.5",
    port: 32001,
  });
  assert.deepEqual(healthEndpoint("10.0.0.5", template({ type: "tcp" }), 8080, undefined, container), {
    waitingFor: "health port 8080 is not published yet",
  });
});

test("an unpublished health port is checked at the container's own address, or waits without one", () => {
  const check = { type: "http" as const, port: 9090 };
  assert.deepEqual(
    healthEndpoint("10.0.0.5", template(check), 8080, 32001, { ports: [], ipAddress: "172.17.0.2" }),
    { host: "172.17.0.2", port: 9090 },
  );
  const waiting = healthEndpoint("10.0.0.5", template(check), 8080, 32001, { ports: [] });
  assert.ok("waitingFor" in waiting);
  assert.match(waiting.waitingFor, /no IP address to check health port 9090.*publishPort/);
});

test("a health port that asks to be published is checked where it is published", () => {
  const check = { type: "http" as const, port: 9090, publishPort: true };
  const container = { ports: [published(8080, 32001), published(9090, 32002)], ipAddress: "172.17.0.2" };
  assert.deepEqual(healthEndpoint("10.0.0.5", template(check), 8080, 32001, container), {
    host: "10.0.0.5",
    port: 32002,
  });
});

test("a liveness check given explicitly is placed by its own port, not the health check's", () => {
  const container = { ports: [published(8080, 32001)], ipAddress: "172.17.0.2" };
  const liveness = { type: "http" as const, port: 7070 };
  assert.deepEqual(healthEndpoint("10.0.0.5", template({ type: "tcp" }), 8080, 32001, container, liveness), {
    host: "172.17.0.2",
    port: 7070,
  });
});

test("a running container's endpoints: service port, its host port and the health endpoint", () => {
  const container = { id: "c1", labels: {}, ports: [published(8080, 32001)], ipAddress: "172.17.0.2" };
  assert.deepEqual(serviceEndpointsOf("10.0.0.5", template({ type: "tcp" }), container), {
    servicePort: 8080,
    hostPort: 32001,
    health: { host: "10.0.0.5", port: 32001 },
  });
});

test("an unpublished service port is waited for, also when the health check goes to the container's address", () => {
  const check = { type: "http" as const, port: 9090 };
  const container = { id: "c1", labels: {}, ports: [], ipAddress: "172.17.0.2" };
  assert.deepEqual(serviceEndpointsOf("10.0.0.5", template(check), container), {
    waitingFor: "port 8080 is not published yet",
  });
});

test("a repository container without its service port label is refused as not Berth's", () => {
  const repository: RunTemplate = { repository: { url: "https://example.test/r.git", ref: "main" } };
  const unlabelled = { id: "0123456789abcdef", labels: {}, ports: [], ipAddress: "172.17.0.2" };
  assert.throws(
    () => serviceEndpointsOf("10.0.0.5", repository, unlabelled),
    (err: unknown) =>
      err instanceof ContainerConfigError &&
      err.reason === "InvalidContainerSpec" &&
      err.message.includes("container 0123456789ab does not record its service port"),
  );
  const labelled = {
    ...unlabelled,
    labels: { [SERVICE_PORT_LABEL]: "3000" },
    ports: [published(3000, 32005)],
  };
  assert.deepEqual(serviceEndpointsOf("10.0.0.5", repository, labelled), {
    servicePort: 3000,
    hostPort: 32005,
    health: { host: "10.0.0.5", port: 32005 },
  });
});
