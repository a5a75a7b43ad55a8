import { test } from "node:test";
import assert from "node:assert/strict";
import type Docker from "dockerode";
import {
  labelFilters,
  managedLabels,
  parsePublishedPorts,
  toContainerInfo,
  toContainerSummary,
  toCreateOptions,
  toImageInfo,
  toImageSummary,
} from "./conversions.js";
import { hostPortFor } from "./types.js";

test("toCreateOptions maps a full spec onto the engine's create options", () => {
  const options = toCreateOptions({
    name: "web-abc-0",
    image: "berth-test/echo:1",
    labels: { "berth.dev/instance": "web-abc-0" },
    env: { ID: "web-0", MESSAGE: "a=b" },
    command: ["/bin/sh"],
    args: ["-c", "serve"],
    ports: [{ containerPort: 8080, hostIp: "127.0.0.1", hostPort: 18080 }],
    memoryBytes: 64 * 1024 * 1024,
    nanoCpus: 500_000_000,
    restartPolicy: { name: "on-failure", maximumRetryCount: 3 },
    stopTimeoutSeconds: 5,
  });
  assert.equal(options.name, "web-abc-0");
  assert.equal(options.Image, "berth-test/echo:1");
  assert.deepEqual(options.Labels, { "berth.dev/instance": "web-abc-0", "berth.dev/managed-by": "berth" });
  assert.deepEqual(options.Env, ["ID=web-0", "MESSAGE=a=b"]);
  assert.deepEqual(options.Entrypoint, ["/bin/sh"]);
  assert.deepEqual(options.Cmd, ["-c", "serve"]);
  assert.deepEqual(options.ExposedPorts, { "8080/tcp": {} });
  assert.equal(options.StopTimeout, 5);
  const host = options.HostConfig;
  assert.ok(host);
  assert.deepEqual(host.PortBindings, { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "18080" }] });
  assert.equal(host.Memory, 64 * 1024 * 1024);
  assert.equal(host.MemorySwap, 64 * 1024 * 1024);
  assert.equal(host.NanoCpus, 500_000_000);
  assert.deepEqual(host.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 3 });
  assert.equal(host.Init, true);
});

test("toCreateOptions: minimal spec keeps the image's entrypoint, lets the engine pick ports, always labels", () => {
  const options = toCreateOptions({
    image: "app:1",
    labels: { "berth.dev/managed-by": "someone-else" },
    ports: [{ containerPort: 8080 }, { containerPort: 53, protocol: "udp", hostPort: 0 }],
  });
  assert.equal(options.name, undefined);
  assert.equal(options.Entrypoint, undefined);
  assert.equal(options.Cmd, undefined);
  assert.deepEqual(options.Env, []);
  assert.equal(options.Labels?.["berth.dev/managed-by"], "berth");
  assert.deepEqual(options.HostConfig?.PortBindings, {
    "8080/tcp": [{ HostIp: "", HostPort: "" }],
    "53/udp": [{ HostIp: "", HostPort: "" }],
  });
  assert.equal(options.HostConfig?.Memory, undefined);
  assert.deepEqual(options.HostConfig?.RestartPolicy, { Name: "no" });
  assert.equal(options.HostConfig?.Init, true);
  assert.equal(toCreateOptions({ image: "app:1", labels: {}, init: false }).HostConfig?.Init, false);
});

test("toCreateOptions refuses values the engine would reject less clearly", () => {
  assert.throws(() => toCreateOptions({ image: "", labels: {} }), /image is required/);
  assert.throws(
    () => toCreateOptions({ image: "a", labels: {}, ports: [{ containerPort: 0 }] }),
    /containerPort/,
  );
  assert.throws(
    () => toCreateOptions({ image: "a", labels: {}, ports: [{ containerPort: 80, hostPort: 70000 }] }),
    /hostPort/,
  );
  assert.throws(() => toCreateOptions({ image: "a", labels: {}, memoryBytes: 1.5 }), /memoryBytes/);
  assert.throws(() => toCreateOptions({ image: "a", labels: {}, nanoCpus: -1 }), /nanoCpus/);
});

test("parsePublishedPorts reads inspect's port map; hostPortFor prefers IPv4", () => {
  const ports = parsePublishedPorts({
    "8080/tcp": [
      { HostIp: "::", HostPort: "32769" },
      { HostIp: "0.0.0.0", HostPort: "32768" },
    ],
    "9090/tcp": null,
    "53/udp": [{ HostIp: "127.0.0.2", HostPort: "40000" }],
    "7000/tcp": [{ HostIp: "0.0.0.0", HostPort: "" }],
  });
  assert.deepEqual(ports, [
    { containerPort: 8080, protocol: "tcp", hostIp: "::", hostPort: 32769 },
    { containerPort: 8080, protocol: "tcp", hostIp: "0.0.0.0", hostPort: 32768 },
    { containerPort: 53, protocol: "udp", hostIp: "127.0.0.2", hostPort: 40000 },
  ]);
  assert.equal(hostPortFor(ports, 8080), 32768);
  assert.equal(hostPortFor(ports, 53, "udp"), 40000);
  assert.equal(hostPortFor(ports, 53), undefined);
  assert.equal(hostPortFor(ports, 9090), undefined);
  assert.deepEqual(parsePublishedPorts(undefined), []);
  assert.deepEqual(parsePublishedPorts(null), []);
});

test("toContainerInfo turns an inspect result into Berth's shape", () => {
  const inspect = {
    Id: "abc123",
    Name: "/web-abc-0",
    Created: "2025-01-01T00:00:00Z",
    Image: "sha256:img",
    RestartCount: 2,
    State: {
      Status: "exited",
      Running: false,
      Restarting: false,
      OOMKilled: false,
      ExitCode: 3,
      Error: "",
      StartedAt: "2025-01-01T00:00:01Z",
      FinishedAt: "0001-01-01T00:00:00Z",
    },
    Config: { Image: "berth-test/exit:1", Labels: { "berth.dev/managed-by": "berth" } },
    HostConfig: {
      Memory: 1024,
      NanoCpus: 5,
      Init: true,
      RestartPolicy: { Name: "on-failure", MaximumRetryCount: 4 },
    },
    NetworkSettings: { Ports: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "32770" }] } },
  } as unknown as Docker.ContainerInspectInfo;
  const info = toContainerInfo(inspect);
  assert.equal(info.name, "web-abc-0");
  assert.equal(info.image, "berth-test/exit:1");
  assert.equal(info.state.status, "exited");
  assert.equal(info.state.exitCode, 3);
  assert.equal(info.state.startedAt, "2025-01-01T00:00:01Z");
  assert.equal(info.state.finishedAt, undefined);
  assert.equal(info.restartCount, 2);
  assert.equal(hostPortFor(info.ports, 8080), 32770);
  assert.equal(info.memoryBytes, 1024);
  assert.equal(info.nanoCpus, 5);
  assert.equal(info.init, true);
  assert.deepEqual(info.restartPolicy, { name: "on-failure", maximumRetryCount: 4 });
});

test("toContainerSummary and toImageInfo", () => {
  const summary = toContainerSummary({
    Id: "abc",
    Names: ["/web-0"],
    Image: "app:1",
    Labels: { a: "b" },
    State: "running",
    Status: "Up 2 seconds",
    Ports: [
      { PrivatePort: 8080, PublicPort: 32768, Type: "tcp", IP: "0.0.0.0" },
      { PrivatePort: 9090, Type: "tcp" },
    ],
  } as unknown as Docker.ContainerInfo);
  assert.equal(summary.name, "web-0");
  assert.deepEqual(summary.ports, [
    { containerPort: 8080, protocol: "tcp", hostIp: "0.0.0.0", hostPort: 32768 },
  ]);

  const image = toImageInfo({
    Id: "sha256:1",
    RepoTags: ["app:1"],
    Created: "2025-01-01T00:00:00Z",
    Config: { ExposedPorts: { "9090/tcp": {}, "8080/tcp": {}, "53/udp": {} }, Labels: null },
  } as unknown as Docker.ImageInspectInfo);
  assert.deepEqual(image.exposedPorts, [
    { port: 53, protocol: "udp" },
    { port: 8080, protocol: "tcp" },
    { port: 9090, protocol: "tcp" },
  ]);
  assert.deepEqual(image.labels, {});
});

test("label filters always include Berth's own label", () => {
  assert.deepEqual(labelFilters(managedLabels({ "berth.dev/node": "n1" })), [
    "berth.dev/node=n1",
    "berth.dev/managed-by=berth",
  ]);
  assert.deepEqual(labelFilters(managedLabels({ "berth.dev/managed-by": "x" })), [
    "berth.dev/managed-by=berth",
  ]);
});

test("toImageSummary drops the untagged placeholder and gives the creation time in milliseconds", () => {
  const summary = toImageSummary({
    Id: "sha256:abc",
    RepoTags: ["<none>:<none>", "app:1"],
    Labels: { a: "b" },
    Size: 42,
    Created: 1_700_000_000,
  } as unknown as Parameters<typeof toImageSummary>[0]);
  assert.deepEqual(summary, {
    id: "sha256:abc",
    repoTags: ["app:1"],
    labels: { a: "b" },
    sizeBytes: 42,
    createdAt: 1_700_000_000_000,
  });
  const bare = toImageSummary({ Id: "sha256:def", Size: 1, Created: 1 } as Parameters<
    typeof toImageSummary
  >[0]);
  assert.deepEqual(bare.repoTags, []);
  assert.deepEqual(bare.labels, {});
});
