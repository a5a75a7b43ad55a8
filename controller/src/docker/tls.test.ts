import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { readEngineTls, resolveEngineTlsFiles } from "./tls.js";

const SOURCES = { ca: "--ca", cert: "--cert", key: "--key" };

test("files named explicitly win over DOCKER_TLS_VERIFY and DOCKER_CERT_PATH", () => {
  const env = { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs" };
  assert.deepEqual(resolveEngineTlsFiles({ ca: "/mine/ca.pem" }, env, SOURCES), { ca: "/mine/ca.pem" });
});

test("DOCKER_TLS_VERIFY takes ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH or ~/.docker", () => {
  assert.deepEqual(
    resolveEngineTlsFiles({}, { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/certs" }, SOURCES),
    {
      ca: "/certs/ca.pem",
      cert: "/certs/cert.pem",
      key: "/certs/key.pem",
    },
  );
  const home = resolveEngineTlsFiles({}, { DOCKER_TLS_VERIFY: "true" }, SOURCES);
  assert.equal(home?.ca, path.join(os.homedir(), ".docker", "ca.pem"));
  // As the docker CLI reads them: DOCKER_CERT_PATH alone does not turn TLS on.
  assert.equal(resolveEngineTlsFiles({}, { DOCKER_CERT_PATH: "/certs" }, SOURCES), undefined);
  assert.equal(resolveEngineTlsFiles({ ca: "", cert: "", key: "" }, {}, SOURCES), undefined);
});

test("a certificate without its key, or a key without its certificate, is refused by name", () => {
  assert.throws(() => resolveEngineTlsFiles({ cert: "/c.pem" }, {}, SOURCES), /--cert is set without --key/);
  assert.throws(() => resolveEngineTlsFiles({ key: "/k.pem" }, {}, SOURCES), /--key is set without --cert/);
});

test("readEngineTls reads PEM files and names the one it cannot use", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-tls-test-"));
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  writeFileSync(path.join(dir, "ca.pem"), pem);
  writeFileSync(path.join(dir, "junk.pem"), "not a certificate");
  assert.equal(readEngineTls({ ca: path.join(dir, "ca.pem") }).ca?.toString(), pem);
  assert.throws(
    () => readEngineTls({ ca: path.join(dir, "missing.pem") }),
    /CA certificate .*missing\.pem cannot be read \(ENOENT\)/,
  );
  assert.throws(
    () => readEngineTls({ key: path.join(dir, "junk.pem") }),
    /client key .*junk\.pem is not a PEM file/,
  );
});
