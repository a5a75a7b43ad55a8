/**
 * A remote engine behind TLS: an extra dockerd with --tlsverify on tcp://127.0.0.N (N handed out by the harness), with
 * a CA, server and client certificates made here with openssl. The agent, configured by
 * its --docker-tls-* flags (or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), runs an Instance
 * there; without a client certificate, with one of another CA, or trusting another CA, it
 * is refused and says that TLS failed.
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/docker-engine-tls.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { API_VERSION, type Instance, type Node } from "../../controller/src/api/types.js";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { agentFlags } from "../../controller/src/agent/flags.js";
import { agentOptionsFromFlags } from "../../controller/src/agent/options.js";
import { startAgent } from "../../controller/src/agent/agent-role.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { EngineTlsError } from "../../controller/src/docker/errors.js";
import { readEngineTls } from "../../controller/src/docker/tls.js";
import { INSTANCES, NODES } from "../../controller/src/kube/resources.js";
import { isNotFound } from "../../controller/src/kube/errors.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { parseFlags } from "../../controller/src/runtime/flags.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import {
  claimEngineSlot,
  engines,
  env,
  httpGet,
  images,
  run,
  stopExtraEngine,
  testNamespace,
  waitFor,
} from "../harness/index.js";

/** The extra engine of this file (its number handed out by the harness): it publishes on, and listens with TLS at, 127.0.0.<ENGINE>. */
let ENGINE: number;
let ADDRESS: string;
const TLS_PORT = 12376;
/** Not 2376, so only the TLS settings (not the port convention) make the agent speak TLS. */
let URL: string;

let certs: string;

/** openssl that must succeed. */
async function openssl(args: string[]): Promise<void> {
  const result = await run("openssl", args);
  assert.equal(result.code, 0, `openssl ${args.join(" ")}: ${result.stderr}`);
}

async function makeCa(name: string): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    `/CN=berth test ${name}`,
    "-keyout",
    `${certs}/${name}-key.pem`,
    "-out",
    `${certs}/${name}.pem`,
  ]);
}

/** A key and a certificate signed by `ca`, with the given X.509 extensions. */
async function makeLeaf(name: string, ca: string, extensions: string): Promise<void> {
  await openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    `/CN=berth test ${name}`,
    "-keyout",
    `${certs}/${name}-key.pem`,
    "-out",
    `${certs}/${name}.csr`,
  ]);
  await writeFile(`${certs}/${name}.ext`, extensions);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${certs}/${name}.csr`,
    "-CA",
    `${certs}/${ca}.pem`,
    "-CAkey",
    `${certs}/${ca}-key.pem`,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    `${certs}/${name}.ext`,
    "-out",
    `${certs}/${name}-cert.pem`,
  ]);
}

before(async () => {
  ENGINE = await claimEngineSlot();
  ADDRESS = `127.0.0.${ENGINE}`;
  URL = `tcp://${ADDRESS}:${TLS_PORT}`;
  env();
  certs = await mkdtemp(path.join(os.tmpdir(), "berth-engine-tls-"));
  await makeCa("ca");
  await makeCa("other-ca");
  await makeLeaf("server", "ca", `subjectAltName=IP:${ADDRESS}\nextendedKeyUsage=serverAuth\n`);
  await makeLeaf("client", "ca", "extendedKeyUsage=clientAuth\n");
  await makeLeaf("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
  // What dockerd is given: the CA client certificates must be signed by, and its own pair.
  const engineDir = path.join(certs, "engine");
  await mkdir(engineDir);
  await copyFile(`${certs}/ca.pem`, `${engineDir}/ca.pem`);
  await copyFile(`${certs}/server-cert.pem`, `${engineDir}/server-cert.pem`);
  await copyFile(`${certs}/server-key.pem`, `${engineDir}/server-key.pem`);
  // A leftover engine of an earlier run might listen without TLS: start from scratch.
  await engines("stop", String(ENGINE));
  await engines("start-tls", String(ENGINE), String(TLS_PORT), engineDir);
  await engines("load-images", String(ENGINE));
});

after(async () => {
  await stopExtraEngine(ENGINE);
  if (certs) await rm(certs, { recursive: true, force: true });
});

const tlsFlags = (ca: string, client?: string): string[] => [
  `--docker-tls-ca=${certs}/${ca}.pem`,
  ...(client
    ? [`--docker-tls-cert=${certs}/${client}-cert.pem`, `--docker-tls-key=${certs}/${client}-key.pem`]
    : []),
];

/** An engine client made the way the agent makes its own: from flags (and environment) to options to files. */
function engineFromFlags(flags: string[], environment: Record<string, string> = {}): DockerEngine {
  const { values } = parseFlags(agentFlags, ["--node-name=tls-test", ...flags], {});
  const options = agentOptionsFromFlags(values, environment);
  return new DockerEngine({
    url: options.url,
    ...(options.dockerTls ? { tls: readEngineTls(options.dockerTls) } : {}),
  });
}

test("the agent runs an Instance on a --tlsverify engine with its client certificate", async (t) => {
  const namespace = await testNamespace(t, "berth-tls");
  const kube = newKubeClient(env().kc);
  const nodeName = `tls-${randomBytes(4).toString("hex")}`;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-agent-tls-"));
  const { values } = parseFlags(
    agentFlags,
    [`--node-name=${nodeName}`, `--url=${URL}`, ...tlsFlags("ca", "client"), `--state-dir=${stateDir}`],
    {},
  );
  const options = agentOptionsFromFlags(values, {});
  assert.equal(options.address, ADDRESS);
  const agent = await startAgent(
    { ...options, leaseRenewIntervalMs: 1000, leaseDurationMs: 15_000, resyncIntervalMs: 3000 },
    { client: kube, logger: createLogger({ level: "error" }) },
  );
  t.after(async () => {
    await kube.delete(INSTANCES, { namespace, name: "web" }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await waitFor(
      "the Instance to be gone",
      async () => (await kube.list(INSTANCES, { namespace })).items.length === 0,
    );
    await agent.stop();
    await kube.delete(NODES, { name: nodeName }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await rm(stateDir, { recursive: true, force: true });
  });
  await kube.mergePatch(NODES, { name: nodeName }, { spec: { unschedulable: true } });

  const node = await waitFor("the Node to see its engine", async () => {
    const current: Node = await kube.get(NODES, { name: nodeName });
    return current.status?.conditions?.some((c) => c.type === "DockerReachable" && c.status === "True")
      ? current
      : undefined;
  });
  assert.ok(node.status?.dockerVersion, "the Docker version came over TLS");

  const deploymentId = randomBytes(10).toString("hex");
  const instance: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name: "web",
      namespace,
      labels: { [LABELS.definition]: "web", [LABELS.deploymentId]: deploymentId, [LABELS.node]: nodeName },
    },
    spec: {
      definition: "web",
      deploymentId,
      nodeName,
      template: { image: { name: images.echo, port: 8080, pullPolicy: "Never" } },
    },
  };
  await kube.create(INSTANCES, instance);
  const ready = await waitFor("the Instance on the TLS engine to be ready", async () => {
    const current = await kube.get(INSTANCES, { namespace, name: "web" });
    return current.status?.ready ? current : undefined;
  });
  assert.equal(ready.status?.address?.host, ADDRESS);
  assert.equal((await httpGet(`${ready.status?.address?.url}/healthz`))?.status, 200);
});

test("DOCKER_TLS_VERIFY with DOCKER_CERT_PATH connects as the flags do", async () => {
  const dockerDir = path.join(certs, "docker-cli");
  await mkdir(dockerDir, { recursive: true });
  await copyFile(`${certs}/ca.pem`, `${dockerDir}/ca.pem`);
  await copyFile(`${certs}/client-cert.pem`, `${dockerDir}/cert.pem`);
  await copyFile(`${certs}/client-key.pem`, `${dockerDir}/key.pem`);
  const engine = engineFromFlags([], {
    DOCKER_HOST: URL,
    DOCKER_TLS_VERIFY: "1",
    DOCKER_CERT_PATH: dockerDir,
  });
  assert.match((await engine.version()).version, /^\d+\./);
});

test("the engine refuses an agent without a client certificate or with another CA's, and the agent refuses an engine its CA did not sign", async (t) => {
  await assert.doesNotReject(engineFromFlags([`--url=${URL}`, ...tlsFlags("ca", "client")]).version());
  const refusals: Record<string, string[]> = {
    "no client certificate": tlsFlags("ca"),
    "a client certificate of another CA": tlsFlags("ca", "stranger"),
    "trusting another CA": tlsFlags("other-ca", "client"),
  };
  for (const [what, flags] of Object.entries(refusals)) {
    const err = await engineFromFlags([`--url=${URL}`, ...flags])
      .version()
      .then(
        () => assert.fail(`${what}: the connection should be refused`),
        (caught: unknown) => caught,
      );
    assert.ok(err instanceof EngineTlsError, `${what}: ${String(err)}`);
    assert.match(
      err.message,
      new RegExp(`TLS with the Docker engine at ${URL.replaceAll(".", "\\.")} failed`),
      what,
    );
  }
  // Without TLS settings, plain HTTP to the TLS port gets nowhere either.
  await assert.rejects(engineFromFlags([`--url=${URL}`]).version());

  // An agent without its client certificate starts, and its Node says why the engine is unusable.
  const kube = newKubeClient(env().kc);
  const nodeName = `tls-refused-${randomBytes(4).toString("hex")}`;
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "berth-agent-tls-"));
  const { values } = parseFlags(
    agentFlags,
    [`--node-name=${nodeName}`, `--url=${URL}`, ...tlsFlags("ca"), `--state-dir=${stateDir}`],
    {},
  );
  const agent = await startAgent(
    { ...agentOptionsFromFlags(values, {}), leaseRenewIntervalMs: 1000, leaseDurationMs: 15_000 },
    { client: kube, logger: createLogger({ level: "error" }) },
  );
  t.after(async () => {
    await agent.stop();
    await kube.delete(NODES, { name: nodeName }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await rm(stateDir, { recursive: true, force: true });
  });
  const condition = await waitFor("the Node to report the TLS refusal", async () => {
    const node: Node = await kube.get(NODES, { name: nodeName });
    return node.status?.conditions?.find((c) => c.type === "DockerReachable" && c.status === "False");
  });
  assert.match(condition.message ?? "", /TLS with the Docker engine .* failed/);
  assert.equal((await kube.get(NODES, { name: nodeName })).status?.ready, "False");
});
