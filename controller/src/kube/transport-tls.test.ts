/**
 * The transport against an https server on loopback with certificates made here by openssl:
 * mutual TLS works, one secure context serves every connection, and a server whose
 * certificate another CA signed is still refused.
 */
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError } from "./errors.js";
import { KubeTransport } from "./transport.js";

const run = promisify(execFile);

interface Pair {
  cert: string;
  key: string;
}

/** A CA, or (with `ca`) a certificate it signs with the given X.509 extensions. */
async function makeCertificate(dir: string, name: string, extensions?: string, ca?: string): Promise<Pair> {
  const key = path.join(dir, `${name}-key.pem`);
  const cert = path.join(dir, `${name}.pem`);
  await run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
  if (!ca) {
    await run("openssl", [
      "req",
      "-x509",
      "-new",
      "-key",
      key,
      "-subj",
      `/CN=${name}`,
      "-days",
      "2",
      "-out",
      cert,
    ]);
  } else {
    const csr = path.join(dir, `${name}.csr`);
    const ext = path.join(dir, `${name}.ext`);
    await writeFile(ext, extensions ?? "");
    await run("openssl", ["req", "-new", "-key", key, "-subj", `/CN=${name}`, "-out", csr]);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      path.join(dir, `${ca}.pem`),
      "-CAkey",
      path.join(dir, `${ca}-key.pem`),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      ext,
      "-out",
      cert,
    ]);
  }
  return { cert: await readFile(cert, "utf8"), key: await readFile(key, "utf8") };
}

const base64 = (text: string): string => Buffer.from(text).toString("base64");

function kubeConfigFor(server: string, ca: string, client: Pair): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server, caData: base64(ca), skipTLSVerify: false }],
    users: [{ name: "u", certData: base64(client.cert), keyData: base64(client.key) }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

test("mutual TLS: one secure context for every connection, and a server another CA vouches for is refused", async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kube-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await makeCertificate(dir, "ca");
  const otherCa = await makeCertificate(dir, "other-ca");
  const server = await makeCertificate(
    dir,
    "server",
    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    "ca",
  );
  const client = await makeCertificate(dir, "client", "extendedKeyUsage=clientAuth\n", "ca");

  let connections = 0;
  const clientNames: string[] = [];
  const answered: Array<() => void> = [];
  const api = https.createServer(
    { ...server, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      clientNames.push(String(peer.subject?.CN));
      // Held until several have arrived, so the requests need connections of their own.
      answered.push(() => res.end(JSON.stringify({ kind: "Status", path: req.url })));
      if (answered.length === 4) for (const answer of answered.splice(0)) answer();
    },
  );
  api.on("secureConnection", () => (connections += 1));
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  t.after(() => api.close());
  const url = `https://127.0.0.1:${(api.address() as AddressInfo).port}`;

  const contexts = mock.method(tls, "createSecureContext");
  t.after(() => contexts.mock.restore());
  const transport = new KubeTransport(kubeConfigFor(url, ca.cert, client), 10_000, undefined);
  const answers = await Promise.all([1, 2, 3, 4].map((n) => transport.request("GET", `/n/${n}`)));
  assert.deepEqual(
    answers,
    [1, 2, 3, 4].map((n) => ({ kind: "Status", path: `/n/${n}` })),
  );
  assert.equal(connections, 4, "four requests at once, four connections");
  assert.deepEqual(clientNames, ["client", "client", "client", "client"], "the client certificate was shown");
  assert.equal(contexts.mock.callCount(), 1, "one secure context for all four connections");

  const distrusting = new KubeTransport(kubeConfigFor(url, otherCa.cert, client), 10_000, undefined);
  await assert.rejects(
    () => distrusting.request("GET", "/refused"),
    (err: unknown) =>
      err instanceof KubeApiError && /self[- ]signed|unable to verify|certificate/i.test(err.message),
  );
  assert.ok(!clientNames.includes("refused"), "no request reached the server");
});

test("the kubeconfig is asked once for a fixed token, and per request for credentials a token file gives", async (t) => {
  const seen: Array<string | undefined> = [];
  const api = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.end("{}");
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  t.after(() => api.close());
  const server = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), "kube-token-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, "token");
  await writeFile(tokenFile, "from-file");

  const users = {
    fixed: { name: "u", token: "fixed" },
    file: { name: "u", authProvider: { name: "tokenFile", config: { tokenFile } } },
  };
  for (const [kind, user] of Object.entries(users)) {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server, skipTLSVerify: true }],
      users: [user],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const asked = mock.method(kc, "applyToHTTPSOptions");
    const transport = new KubeTransport(kc, 10_000, undefined);
    seen.length = 0;
    for (let i = 0; i < 3; i += 1) await transport.request("GET", "/");
    const token = kind === "fixed" ? "Bearer fixed" : "Bearer from-file";
    assert.deepEqual(seen, [token, token, token], `${kind}: every request carries the token`);
    assert.equal(
      asked.mock.callCount(),
      kind === "fixed" ? 1 : 3,
      `${kind}: how often the kubeconfig is asked`,
    );
  }
});
