import { test } from "node:test";
import assert from "node:assert/strict";
import type { HealthCheck, RunTemplate, Instance } from "../api/types.js";
import { LABELS } from "../api/vocabulary.js";
import {
  ContainerConfigError,
  RESTARTS_LABEL,
  SERVICE_PORT_LABEL,
  buildContainerSpec,
  checkResources,
  cpuLimitNanos,
  memoryLimitBytes,
  parseCpuQuantity,
  parseMemoryQuantity,
  runSourceOf,
  servicePortOf,
} from "./container-request.js";

function instance(overrides: Partial<Instance["spec"]> = {}): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "shop", name: "web-abc-0", uid: "u1" },
    spec: {
      definition: "web",
      deploymentId: "abc123",
      nodeName: "node-a",
      template: { image: { name: "berth-test/echo:1", port: 8080 } },
      ...overrides,
    },
  };
}

const node = { nodeName: "node-a", installation: "inst-a", address: "10.0.0.5", bindAddress: "10.0.0.5" };

test("the create spec carries Berth's labels, a dynamic port binding and no Docker restart policy", () => {
  const spec = buildContainerSpec({
    instance: instance(),
    image: { name: "berth-test/echo:1", port: 8080 },
    node,
    env: [["A", "1"]],
    restarts: 2,
  });
  assert.equal(spec.image, "berth-test/echo:1");
  assert.deepEqual(spec.ports, [{ containerPort: 8080, protocol: "tcp", hostIp: "10.0.0.5" }]);
  assert.deepEqual(spec.restartPolicy, { name: "no" });
  assert.equal(spec.labels[LABELS.managedBy], "berth");
  assert.equal(spec.labels[LABELS.instance], "web-abc-0");
  assert.equal(spec.labels[LABELS.namespace], "shop");
  assert.equal(spec.labels[LABELS.node], "node-a");
  assert.equal(spec.labels[LABELS.installation], "inst-a");
  assert.equal(spec.name, "berth_inst-a_node-a_shop_web-abc-0", "two installations' names never collide");
  assert.equal(spec.labels[LABELS.definition], "web");
  assert.equal(spec.labels[LABELS.deploymentId], "abc123");
  assert.equal(spec.labels[RESTARTS_LABEL], "2");
  assert.equal(spec.labels[SERVICE_PORT_LABEL], "8080");
  assert.deepEqual(spec.env, { A: "1" });
  assert.equal(spec.command, undefined);
  assert.equal(spec.args, undefined);
});

test("a fixed hostPort, command, args and limits reach the create spec", () => {
  const spec = buildContainerSpec({
    instance: instance({
      hostPort: 18080,
      template: {
        image: { name: "app:1", port: 80 },
        command: ["/bin/app"],
        args: ["--serve"],
        resources: { memory: "64Mi", cpus: "500m" },
      },
    }),
    image: { name: "app:1", port: 80 },
    node,
    env: [],
    restarts: 0,
  });
  assert.deepEqual(spec.ports, [{ containerPort: 80, protocol: "tcp", hostIp: "10.0.0.5", hostPort: 18080 }]);
  assert.deepEqual(spec.command, ["/bin/app"]);
  assert.deepEqual(spec.args, ["--serve"]);
  assert.equal(spec.memoryBytes, 64 * 1024 * 1024);
  assert.equal(spec.nanoCpus, 500_000_000);
});

test("a health check on another port is published only when it asks, and never for exec", () => {
  const ports = (healthCheck: HealthCheck) =>
    buildContainerSpec({
      instance: instance({ template: { image: { name: "a", port: 8080 }, healthCheck } }),
      image: { name: "a", port: 8080 },
      node,
      env: [],
      restarts: 0,
    }).ports?.map((p) => `${p.hostIp}:${p.containerPort}`);
  assert.deepEqual(ports({ type: "http", path: "/h", port: 9090 }), ["10.0.0.5:8080"]);
  assert.deepEqual(ports({ type: "tcp", port: 9090, publishPort: true }), ["10.0.0.5:8080", "10.0.0.5:9090"]);
  assert.deepEqual(ports({ type: "tcp", port: 8080, publishPort: true }), ["10.0.0.5:8080"]);
  assert.deepEqual(ports({ type: "exec", command: ["true"], port: 9090, publishPort: true }), [
    "10.0.0.5:8080",
  ]);
});

test("a liveness check's own port is published like a health check's, once when both share it", () => {
  const ports = (template: Pick<RunTemplate, "healthCheck" | "livenessCheck">) =>
    buildContainerSpec({
      instance: instance({ template: { image: { name: "a", port: 8080 }, ...template } }),
      image: { name: "a", port: 8080 },
      node,
      env: [],
      restarts: 0,
    }).ports?.map((p) => `${p.hostIp}:${p.containerPort}`);
  const own: HealthCheck = { type: "tcp", port: 9091, publishPort: true };
  assert.deepEqual(ports({ livenessCheck: own }), ["10.0.0.5:8080", "10.0.0.5:9091"]);
  assert.deepEqual(ports({ livenessCheck: { ...own, publishPort: false } }), ["10.0.0.5:8080"]);
  assert.deepEqual(ports({ healthCheck: own, livenessCheck: own }), ["10.0.0.5:8080", "10.0.0.5:9091"]);
});

test("a hostPort below 1024 is refused unless the node allows privileged ports", () => {
  const build = (hostPort: number, privilegedPortsAllowed?: boolean) =>
    buildContainerSpec({
      instance: instance({ hostPort }),
      image: { name: "a", port: 8080 },
      node,
      env: [],
      restarts: 0,
      ...(privilegedPortsAllowed !== undefined ? { privilegedPortsAllowed } : {}),
    });
  assert.throws(
    () => build(80),
    (err: unknown) =>
      err instanceof ContainerConfigError &&
      err.reason === "PrivilegedPortNotAllowed" &&
      /hostPort 80 .*Node node-a .*spec\.allowPrivilegedPorts/.test(err.message),
  );
  assert.throws(() => build(1023, false), /does not allow privileged ports/);
  assert.equal(build(80, true).ports?.[0]?.hostPort, 80);
  assert.equal(build(1024).ports?.[0]?.hostPort, 1024);
});

test("a repository template runs the image built for it, on the port the build decided", () => {
  const template = { repository: { url: "https://example.com/r.git", ref: "a".repeat(40) } };
  assert.deepEqual(runSourceOf(template), { kind: "repository", repository: template.repository });
  const spec = buildContainerSpec({
    instance: instance({ template }),
    image: { name: "berth-build/shop/web:aaaaaaaaaaaa-12345678", port: 8000 },
    node,
    env: [],
    restarts: 0,
  });
  assert.equal(spec.image, "berth-build/shop/web:aaaaaaaaaaaa-12345678");
  assert.deepEqual(
    spec.ports?.map((p) => p.containerPort),
    [8000],
  );
  assert.equal(servicePortOf(template, spec.labels), 8000, "read back from the running container");
  assert.equal(servicePortOf(template, {}), undefined);
  assert.equal(servicePortOf({ image: { name: "a", port: 81 } }, spec.labels), 81, "an image template says");
  assert.throws(
    () => runSourceOf({}),
    (err: unknown) => err instanceof ContainerConfigError && err.reason === "InvalidTemplate",
  );
});

test("quantities convert to bytes and NanoCpus", () => {
  assert.equal(parseMemoryQuantity("1Gi"), 1024 ** 3);
  assert.equal(parseMemoryQuantity("1.5M"), 1_500_000);
  assert.equal(parseMemoryQuantity("4096"), 4096);
  assert.equal(parseCpuQuantity("1.5"), 1_500_000_000);
  assert.equal(parseCpuQuantity("250m"), 250_000_000);
  assert.throws(() => parseMemoryQuantity("lots"), ContainerConfigError);
  assert.throws(() => parseCpuQuantity("-1"), ContainerConfigError);
});

test("limits the engine could not apply exactly, or at all, are refused by name", () => {
  assert.equal(cpuLimitNanos("10m"), 10_000_000);
  assert.equal(cpuLimitNanos("0.01"), 10_000_000);
  assert.equal(memoryLimitBytes("6Mi"), 6 * 1024 ** 2);
  const refused = (parse: () => unknown, says: RegExp) =>
    assert.throws(parse, (err: unknown) => {
      assert.ok(err instanceof ContainerConfigError);
      assert.equal(err.reason, "InvalidResources");
      assert.match(err.message, says);
      return true;
    });
  // Rounds to 0 nanoCPUs, which Docker reads as no limit at all.
  refused(() => cpuLimitNanos("0.0000000001"), /resources\.cpus "0\.0000000001" is less than 10m/);
  refused(() => cpuLimitNanos("9m"), /less than 10m/);
  refused(() => parseCpuQuantity("99999999999999999999"), /resources\.cpus .* too large/);
  // Beyond 2^53: JSON would carry another number to the engine.
  refused(
    () => parseMemoryQuantity("99999999999999999999"),
    /resources\.memory "99999999999999999999" is too large/,
  );
  refused(() => parseMemoryQuantity("9010T"), /too large/);
  refused(() => memoryLimitBytes("1Mi"), /less than 6Mi/);
  for (const memory of ["0.0000000001", "99999999999999999999"]) {
    refused(() => checkResources({ image: { name: "x", port: 1 }, resources: { memory } }), /memory/);
    refused(() => checkResources({ image: { name: "x", port: 1 }, resources: { cpus: memory } }), /cpus/);
  }
});
