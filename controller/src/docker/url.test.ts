import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEngineUrl } from "./url.js";

test("parseEngineUrl understands the engine URL forms a Node may carry", () => {
  assert.deepEqual(parseEngineUrl("unix:///var/run/docker.sock"), {
    kind: "socket",
    socketPath: "/var/run/docker.sock",
  });
  assert.deepEqual(parseEngineUrl("tcp://10.0.0.5:2375"), {
    kind: "network",
    protocol: "http",
    host: "10.0.0.5",
    port: 2375,
  });
  assert.deepEqual(parseEngineUrl("tcp://10.0.0.5:2376"), {
    kind: "network",
    protocol: "https",
    host: "10.0.0.5",
    port: 2376,
  });
  assert.deepEqual(parseEngineUrl("tcp://docker.example"), {
    kind: "network",
    protocol: "http",
    host: "docker.example",
    port: 2375,
  });
  assert.deepEqual(parseEngineUrl("http://127.0.0.1:2375/"), {
    kind: "network",
    protocol: "http",
    host: "127.0.0.1",
    port: 2375,
  });
  assert.deepEqual(parseEngineUrl("https://[::1]:8443"), {
    kind: "network",
    protocol: "https",
    host: "::1",
    port: 8443,
  });
});

test("parseEngineUrl refuses what it cannot connect to, saying what would work", () => {
  assert.throws(() => parseEngineUrl("unix://relative.sock"), /absolute path/);
  assert.throws(() => parseEngineUrl("ssh://user@host"), /not supported/);
  assert.throws(() => parseEngineUrl("/var/run/docker.sock"), /not a URL/);
  assert.throws(() => parseEngineUrl("http://host:2375/v1.41"), /path is not supported/);
});

test("with TLS settings a tcp:// URL is TLS on any port, and plain URLs are refused", () => {
  assert.deepEqual(parseEngineUrl("tcp://10.0.0.5:2375", { tls: true }), {
    kind: "network",
    protocol: "https",
    host: "10.0.0.5",
    port: 2375,
  });
  assert.equal(parseEngineUrl("https://10.0.0.5:8443", { tls: true }).kind, "network");
  assert.throws(
    () => parseEngineUrl("http://10.0.0.5:2375", { tls: true }),
    /plain HTTP.*use tcp:\/\/ or https:\/\//,
  );
  assert.throws(() => parseEngineUrl("unix:///var/run/docker.sock", { tls: true }), /unix socket/);
});
