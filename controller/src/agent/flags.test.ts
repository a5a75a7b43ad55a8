import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFlags } from "../runtime/flags.js";
import { nodeNameFromHostname, parseLabels } from "./flag-grammars.js";
import { agentFlags } from "./flags.js";
import { agentOptionsFromFlags, resolveAgentOptions } from "./options.js";
import { crashBackoffMs, recordExit } from "./crashloop.js";
import { LOOPBACK_BIND_ADDRESS, resolveBindAddress } from "./bind-address.js";
import { MemoryLogger } from "../runtime/log.js";

test("flags and env become options; address and bind address are derived from the URL", () => {
  const { values } = parseFlags(agentFlags, ["--node-name", "edge-1", "--node-labels", "zone=a,disk=ssd"], {
    BERTH_NODE_URL: "tcp://10.0.0.5:2375",
  });
  const options = agentOptionsFromFlags(values, {});
  assert.equal(options.nodeName, "edge-1");
  assert.equal(options.url, "tcp://10.0.0.5:2375");
  assert.equal(options.address, "10.0.0.5");
  assert.equal(options.bindAddress, "10.0.0.5");
  assert.deepEqual(options.labels, { zone: "a", disk: "ssd" });
  assert.equal(options.capacity, undefined);
  assert.equal(options.leaseNamespace, "berth-system");
});

test("a local socket defaults to 127.0.0.1; a host name address is resolved at start, not bound to every interface", () => {
  const { values } = parseFlags(agentFlags, ["--node-name", "n1"], {});
  const local = agentOptionsFromFlags(values, { DOCKER_HOST: "unix:///run/docker.sock" });
  assert.equal(local.url, "unix:///run/docker.sock");
  assert.equal(local.address, "127.0.0.1");
  const named = agentOptionsFromFlags({ ...values, address: "node-1.example.com" }, {});
  assert.equal(named.bindAddress, "", "derived when the agent starts");
  const asked = agentOptionsFromFlags(
    { ...values, address: "node-1.example.com", bindAddress: "0.0.0.0" },
    {},
  );
  assert.equal(asked.bindAddress, "0.0.0.0", "every interface only when asked");
});

test("invalid values are refused with the flag's name", () => {
  assert.throws(() => parseFlags(agentFlags, ["--node-name", "Bad_Name"], {}), /--node-name/);
  assert.throws(() => parseFlags(agentFlags, ["--url", "ftp://x"], {}), /--url/);
  assert.throws(() => parseFlags(agentFlags, [], { BERTH_NODE_LABELS: "novalue" }), /BERTH_NODE_LABELS/);
  assert.throws(() => parseFlags(agentFlags, ["--capacity-memory", "lots"], {}), /--capacity-memory/);
  assert.throws(() => parseFlags(agentFlags, ["--bind-address", "host.example"], {}), /--bind-address/);
  const { values } = parseFlags(agentFlags, ["--node-name", "n", "--node-lease-renew-interval", "1m"], {});
  assert.throws(() => agentOptionsFromFlags(values, {}), /shorter than --node-lease-duration/);
  assert.throws(() => parseLabels("a=b,=c"), /not a key=value label/);
});

test("--docker-tls-* name the engine's TLS files; DOCKER_TLS_VERIFY and DOCKER_CERT_PATH stand in for them", () => {
  const flags = [
    "--node-name=n1",
    "--url=tcp://10.0.0.5:2375",
    "--docker-tls-ca=/etc/berth/ca.pem",
    "--docker-tls-cert=/etc/berth/cert.pem",
    "--docker-tls-key=/etc/berth/key.pem",
  ];
  assert.deepEqual(agentOptionsFromFlags(parseFlags(agentFlags, flags, {}).values, {}).dockerTls, {
    ca: "/etc/berth/ca.pem",
    cert: "/etc/berth/cert.pem",
    key: "/etc/berth/key.pem",
  });
  const { values } = parseFlags(agentFlags, ["--node-name=n1"], { BERTH_DOCKER_TLS_CA: "/ca.pem" });
  assert.deepEqual(agentOptionsFromFlags(values, { DOCKER_HOST: "tcp://10.0.0.5:2376" }).dockerTls, {
    ca: "/ca.pem",
  });
  const fromDocker = agentOptionsFromFlags(parseFlags(agentFlags, ["--node-name=n1"], {}).values, {
    DOCKER_HOST: "tcp://10.0.0.5:2376",
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: "/certs",
  });
  assert.deepEqual(fromDocker.dockerTls, {
    ca: "/certs/ca.pem",
    cert: "/certs/cert.pem",
    key: "/certs/key.pem",
  });
  // Without TLS settings there are none; DOCKER_TLS_VERIFY does not apply to a unix socket.
  assert.equal(
    agentOptionsFromFlags(parseFlags(agentFlags, ["--node-name=n1"], {}).values, {}).dockerTls,
    undefined,
  );
  const local = agentOptionsFromFlags(parseFlags(agentFlags, ["--node-name=n1"], {}).values, {
    DOCKER_TLS_VERIFY: "1",
  });
  assert.equal(local.dockerTls, undefined);
});

test("TLS files for an engine that cannot use them, or a certificate without its key, are refused", () => {
  const options = (flags: string[]) =>
    agentOptionsFromFlags(parseFlags(agentFlags, ["--node-name=n1", ...flags], {}).values, {});
  assert.throws(
    () => options(["--url=unix:///var/run/docker.sock", "--docker-tls-ca=/ca.pem"]),
    /--docker-tls-\*: .*unix socket/,
  );
  assert.throws(() => options(["--url=http://10.0.0.5:2375", "--docker-tls-ca=/ca.pem"]), /plain HTTP/);
  assert.throws(
    () => options(["--url=tcp://10.0.0.5:2376", "--docker-tls-cert=/cert.pem"]),
    /--docker-tls-cert is set without --docker-tls-key/,
  );
});

test("options given in code keep the flags' defaults for the rest", () => {
  const options = resolveAgentOptions({
    nodeName: "n",
    url: "unix:///var/run/docker.sock",
    address: "10.1.2.3",
  });
  assert.equal(options.bindAddress, "10.1.2.3");
  assert.equal(options.leaseDurationMs, 40_000);
  assert.equal(options.workers, 32);
});

test("crash back-off: first exit restarts at once, then doubles to the cap; a long run resets", () => {
  const options = { baseMs: 10_000, maxMs: 40_000, resetAfterMs: 600_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => crashBackoffMs(n, options)),
    [0, 10_000, 20_000, 40_000, 40_000],
  );
  let record = recordExit(undefined, { containerId: "a", ranMs: 100, seenAt: 1000 }, options);
  assert.deepEqual(record, { containerId: "a", crashes: 1, restartAt: 1000 });
  assert.equal(
    recordExit(record, { containerId: "a", ranMs: 100, seenAt: 1000 }, options),
    record,
    "counted once",
  );
  record = recordExit(record, { containerId: "b", ranMs: 100, seenAt: 2000 }, options);
  assert.deepEqual(record, { containerId: "b", crashes: 2, restartAt: 12_000 });
  record = recordExit(record, { containerId: "c", ranMs: 700_000, seenAt: 900_000 }, options);
  assert.equal(record.crashes, 1);
});

test("a Node name must be an RFC 1123 label; the default is the host name's first label", () => {
  assert.throws(() => parseFlags(agentFlags, ["--node-name", "edge.example.com"], {}), /RFC 1123 label/);
  // berth-node-<name> is a namespace name: at most 63 characters in all.
  assert.throws(() => parseFlags(agentFlags, ["--node-name", "n".repeat(53)], {}), /at most 52/);
  assert.doesNotThrow(() => parseFlags(agentFlags, ["--node-name", "n".repeat(52)], {}));
  assert.equal(nodeNameFromHostname("Build-07.Example.COM"), "build-07");
});

test("published ports bind to the agent's own address, never to every interface unless asked", async () => {
  const logger = new MemoryLogger();
  const lookups: string[] = [];
  const resolve = (host: string) => {
    lookups.push(host);
    if (host === "node-1.example.com") return Promise.resolve(["2001:db8::5", "192.0.2.5"]);
    if (host === "empty.example.com") return Promise.resolve([]);
    return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" }));
  };
  const bind = (address: string, bindAddress = "") =>
    resolveBindAddress({ address, bindAddress }, logger, resolve);
  assert.equal(await bind("10.0.0.5"), "10.0.0.5");
  assert.equal(await bind("node-1.example.com"), "192.0.2.5", "a host name binds to its IPv4 address");
  assert.equal(await bind("gone.example.com"), LOOPBACK_BIND_ADDRESS, "unresolvable: loopback, not 0.0.0.0");
  assert.equal(await bind("empty.example.com"), LOOPBACK_BIND_ADDRESS);
  assert.equal(
    await bind("node-1.example.com", "0.0.0.0"),
    "0.0.0.0",
    "the operator asked for every interface",
  );
  assert.equal(await bind("node-1.example.com", "10.9.8.7"), "10.9.8.7");
  assert.deepEqual(lookups, ["node-1.example.com", "gone.example.com", "empty.example.com"]);
  assert.equal(
    logger.lines.filter((line) => line.level === "warn").length,
    2,
    "each loopback fallback is logged",
  );
});

test("image work and disk garbage collection flags: defaults, quantities, and thresholds that must be ordered", () => {
  const defaults = agentOptionsFromFlags(parseFlags(agentFlags, ["--node-name=n1"], {}).values, {});
  assert.equal(defaults.imageWork, 2);
  assert.equal(defaults.startWork, 6);
  assert.deepEqual(defaults.imageGc, {
    intervalMs: 300_000,
    keepPerDefinition: 3,
    highPercent: 85,
    lowPercent: 80,
    diskPath: "",
  });
  assert.equal(defaults.maxRepositoryBytes, 2 * 1024 ** 3);
  assert.equal(defaults.maxBuildLogBytes, 4 * 1024 ** 2);
  const set = parseFlags(
    agentFlags,
    [
      "--node-name=n1",
      "--max-parallel-image-work=6",
      "--max-parallel-starts=9",
      "--build-images-kept=1",
      "--max-repository-size=500M",
      "--image-gc-interval=30s",
    ],
    { BERTH_MAX_BUILD_LOG_SIZE: "64Ki" },
  ).values;
  const options = agentOptionsFromFlags(set, {});
  assert.equal(options.imageWork, 6);
  assert.equal(options.startWork, 9);
  assert.equal(options.imageGc.keepPerDefinition, 1);
  assert.equal(options.imageGc.intervalMs, 30_000);
  assert.equal(options.maxRepositoryBytes, 500_000_000);
  assert.equal(options.maxBuildLogBytes, 65_536);
  assert.throws(() => parseFlags(agentFlags, ["--max-parallel-image-work=0"], {}), /max-parallel-image-work/);
  assert.throws(() => parseFlags(agentFlags, ["--max-parallel-starts=65"], {}), /max-parallel-starts/);
  assert.throws(() => parseFlags(agentFlags, ["--max-repository-size=lots"], {}), /max-repository-size/);
  const inverted = parseFlags(agentFlags, ["--node-name=n1", "--image-gc-low-threshold=90"], {}).values;
  assert.throws(() => agentOptionsFromFlags(inverted, {}), /--image-gc-low-threshold must be below/);
});
