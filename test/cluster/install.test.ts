/**
 * Berth installed the way its users install it, on a real node (kubelet and containerd,
 * hack/node.sh) from its own image: `kubectl apply -k manifests/`, the controller and the
 * registry as Deployments, an agent outside the cluster on this machine's Docker engine
 * with the identity docs/deploy.md makes, and a Definition that becomes an address that
 * answers. Run by `npm run test:cluster` (hack/test-cluster.sh), which brings the node up.
 * The tests run in order and build on each other: the install first, the failover last.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  httpGet,
  images,
  kubectl,
  kubectlOk,
  run,
  spawnForTest,
  testNamespace,
  waitFor,
} from "../harness/index.js";
import { applyDefinition, waitForCondition } from "../integration/controller-fixtures.js";
import {
  CONTROLLER_SELECTOR,
  DOCKER,
  IMAGE,
  KUBE_NODE,
  MANIFESTS,
  MONITORING_CRDS,
  NAMESPACE,
  REGISTRY_SELECTOR,
  docsBlock,
  identityFromDocs,
  isReady,
  kubeletProbeMetrics,
  kubectlJson,
  leaseHolder,
  leaseLines,
  leaseReport,
  podOfIdentity,
  pods,
  runAgentFromDocs,
  runDocsBlock,
  sample,
  scratchWithManifests,
} from "./cluster-fixtures.js";

/** The controller's leader election timings (its flag defaults, which the manifest keeps). */
const LEASE_DURATION_MS = 15_000;
const RETRY_PERIOD_MS = 2_000;
/** Room for a Pod to start on this node: image present, nothing pulled. */
const ROLLOUT_TIMEOUT = "180s";

before(async () => {
  const node = await kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>([
    "get",
    "node",
    KUBE_NODE,
  ]).catch(() => undefined);
  assert.ok(
    node?.status.conditions.some((c) => c.type === "Ready" && c.status === "True"),
    `the cluster tests need a Ready node ${KUBE_NODE}: run them through npm run test:cluster`,
  );
});

after(async () => {
  // The Deployments go, so a node started later does not bring them back, and their Pods
  // stop on the node (the leader releasing the Lease) before hack/test-cluster.sh stops it.
  // The rest of the base (CRDs, RBAC, the namespace) is what the other tests set up too.
  await kubectl([
    "-n",
    NAMESPACE,
    "delete",
    "deployment",
    "berth-controller",
    "berth-registry",
    "--ignore-not-found",
  ]);
  await kubectl(
    ["-n", NAMESPACE, "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name=berth", "--timeout=90s"],
    { timeoutMs: 100_000 },
  );
});

test("docs/deploy.md's install (an overlay of manifests/, kubectl apply -k) rolls out the controller and the registry", async (t) => {
  const dir = await scratchWithManifests(t);
  const [name, tag] = [IMAGE.slice(0, IMAGE.lastIndexOf(":")), IMAGE.slice(IMAGE.lastIndexOf(":") + 1)];
  const install = (await docsBlock("deploy.md", "2. Point the base at it and apply:"))
    .replace("newName: registry.example.com/berth", `newName: ${name}`)
    .replace('newTag: "0.1.0"', `newTag: "${tag}"`);
  assert.match(install, /kubectl apply -k berth-install\//);
  const applied = await runDocsBlock(dir, install, 240_000).catch(async (err: unknown) => {
    throw new Error(`${String(err)}\n${await kubectlOk(["-n", NAMESPACE, "get", "events"])}`);
  });
  assert.match(applied, /deployment "berth-controller" successfully rolled out/);
  const rollout = await kubectl(
    ["-n", NAMESPACE, "rollout", "status", "deployment/berth-registry", `--timeout=${ROLLOUT_TIMEOUT}`],
    { timeoutMs: 200_000 },
  );
  assert.equal(rollout.code, 0, `berth-registry did not roll out:\n${rollout.stderr}`);
  // Step 3 of the docs, as written: the CRDs, the Pods and the Lease holder.
  const check = await runDocsBlock(dir, await docsBlock("deploy.md", "3. Check it:"));
  assert.match(check, /definitions\.berth\.dev/);
  assert.match(check, /berth-controller-/);
  for (const selector of [CONTROLLER_SELECTOR, REGISTRY_SELECTOR]) {
    const running = await pods(selector);
    assert.equal(running.length, 2, `two Pods of ${selector}`);
    for (const pod of running) {
      assert.equal(pod.spec.nodeName, KUBE_NODE);
      assert.ok(isReady(pod), `${pod.metadata.name} is Ready: its readiness probe passes`);
    }
  }
});

test("the namespace enforces the restricted Pod Security Standard for real", async () => {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "privileged-probe", namespace: NAMESPACE },
    spec: { containers: [{ name: "c", image: images.echo, securityContext: { privileged: true } }] },
  };
  const res = await kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
  assert.notEqual(res.code, 0, "a privileged Pod is refused in berth-system");
  assert.match(res.stderr, /violates PodSecurity "restricted/);
});

test("the controller Pods run as non-root on a read-only root filesystem, and logs and exec work", async () => {
  for (const pod of await pods(CONTROLLER_SELECTOR)) {
    const name = pod.metadata.name;
    const exec = (script: string) => kubectl(["-n", NAMESPACE, "exec", name, "--", "sh", "-c", script]);
    const id = await exec("id -u");
    assert.equal(id.code, 0, `kubectl exec into ${name}: ${id.stderr}`);
    assert.equal(id.stdout.trim(), "65532");
    const write = await exec("echo x > /berth-write-probe");
    assert.notEqual(write.code, 0, "the root filesystem is read-only");
    assert.match(write.stderr, /Read-only file system/);
    const tmp = await exec("echo x > /tmp/berth-write-probe && rm /tmp/berth-write-probe");
    assert.equal(tmp.code, 0, `/tmp is writable: ${tmp.stderr}`);
    const logs = await kubectlOk(["-n", NAMESPACE, "logs", name]);
    const first = logs.split("\n").find((line) => line.startsWith("{"));
    assert.ok(first, `${name} logs JSON lines (--log-format=json):\n${logs.slice(0, 2000)}`);
    JSON.parse(first);
  }
});

test("the kubelet runs the liveness and readiness probes of every Berth Pod, and they pass", async () => {
  const all = [...(await pods(CONTROLLER_SELECTOR)), ...(await pods(REGISTRY_SELECTOR))];
  // Liveness starts after the startup probe and runs every 10 s: within a minute each Pod
  // has passed it at least once, or something is wrong.
  await waitFor(
    "a successful liveness and readiness probe of every Berth Pod",
    async () => {
      const metrics = await kubeletProbeMetrics();
      return all.every((pod) =>
        ["Liveness", "Readiness"].every(
          (probe) =>
            (sample(metrics, "prober_probe_total", {
              pod: pod.metadata.name,
              probe_type: probe,
              result: "successful",
            }) ?? 0) >= 1,
        ),
      );
    },
    { timeoutMs: 90_000, intervalMs: 2_000 },
  );
  // Readiness may fail while the caches sync (that is what it is for); liveness never should.
  const metrics = await kubeletProbeMetrics();
  for (const pod of all) {
    const failed = sample(metrics, "prober_probe_total", {
      pod: pod.metadata.name,
      probe_type: "Liveness",
      result: "failed",
    });
    assert.equal(failed ?? 0, 0, `${pod.metadata.name}: no failed liveness probe`);
  }
  for (const pod of [...(await pods(CONTROLLER_SELECTOR)), ...(await pods(REGISTRY_SELECTOR))]) {
    for (const status of pod.status.containerStatuses ?? []) {
      assert.equal(status.restartCount, 0, `${pod.metadata.name}/${status.name} never restarted`);
    }
  }
});

test("exactly one controller leads: the Lease names it and only it reports leadership", async () => {
  const controllers = await pods(CONTROLLER_SELECTOR);
  // A Lease left by Pods of an earlier install that did not stop cleanly (a node stopped
  // under them) is taken over once it expires.
  let holder = "";
  const leader = await waitFor(
    "a controller Pod holding the Lease",
    async () => podOfIdentity(controllers, (holder = await leaseHolder())),
    { timeoutMs: LEASE_DURATION_MS + RETRY_PERIOD_MS + 15_000 },
  ).catch((err: unknown) => {
    throw new Error(`${String(err)} (holder: ${holder})`);
  });
  for (const pod of controllers) {
    const answer = await httpGet(`http://${pod.status.podIP}:9464/metrics`, 5000);
    assert.equal(answer?.status, 200, `${pod.metadata.name} serves /metrics on its Pod IP`);
    const leading = sample(answer?.body ?? "", "leader_election_master_status", { name: "berth-controller" });
    assert.equal(leading, pod === leader ? 1 : 0, `${pod.metadata.name} leader_election_master_status`);
  }
});

test("an agent outside the cluster registers its Node, and a Definition becomes an address that answers", async (t) => {
  const node = `cluster-${randomBytes(3).toString("hex")}`;
  const agent = await identityFromDocs(t, node);
  const gid = (await run("stat", ["-c", "%g", "/var/run/docker.sock"])).stdout.trim();
  assert.match(gid, /^\d+$/);
  const container = await runAgentFromDocs(t, agent, {
    BERTH_NODE_NAME: node,
    BERTH_NODE_URL: "unix:///var/run/docker.sock",
    BERTH_NODE_ADDRESS: "127.0.0.1",
    BERTH_NODE_LABELS: `berth.dev/cluster-test=${node}`,
  });
  const nodeReady = async () =>
    (await kubectl(["get", "bnode", node, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"]))
      .stdout;
  await waitFor(`Node ${node} Ready`, async () => (await nodeReady()) === "True", {
    timeoutMs: 60_000,
  }).catch(async (err: unknown) => {
    const logs = await run(DOCKER, ["logs", "--tail", "40", container]);
    throw new Error(`${String(err)}\nagent logs:\n${logs.stdout}${logs.stderr}`);
  });

  const namespace = await testNamespace(t, "berth-cluster");
  await applyDefinition(namespace, "web", {
    image: { name: images.echo, port: 8080 },
    replicas: 1,
    placement: { nodeSelector: { "berth.dev/cluster-test": node } },
  });
  const web = await waitForCondition(namespace, "web", "Ready", "True/InstancesReady", 120_000);
  const address = web.status?.addresses?.[0];
  assert.ok(address?.startsWith("http://127.0.0.1:"), `an address on the agent's machine: ${address}`);
  const answer = await httpGet(`${address}/`);
  assert.equal(answer?.status, 200, `${address} answers`);
  await kubectlOk(["-n", namespace, "delete", "definition", "web", "--timeout=60s"]);
});

test("the PodDisruptionBudgets allow one replica down; ServiceMonitor and PrometheusRule apply with their CRDs", async (t) => {
  for (const name of ["berth-controller", "berth-registry"]) {
    const status = await waitFor(`PDB ${name} computed`, async () => {
      const pdb = await kubectlJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>([
        "-n",
        NAMESPACE,
        "get",
        "pdb",
        name,
      ]);
      return pdb.status?.currentHealthy === 2 ? pdb.status : undefined;
    });
    assert.equal(status.disruptionsAllowed, 1, `${name}: one replica may go`);
  }
  await kubectlOk(["apply", "-f", "-"], { input: MONITORING_CRDS });
  t.after(async () => {
    await kubectl(["delete", "-k", `${MANIFESTS}/monitoring`, "--ignore-not-found"]);
    await kubectl(["delete", "-f", "-", "--ignore-not-found"], { input: MONITORING_CRDS });
  });
  await kubectlOk([
    "wait",
    "--for=condition=Established",
    "crd/servicemonitors.monitoring.coreos.com",
    "crd/prometheusrules.monitoring.coreos.com",
  ]);
  const res = await kubectl(["apply", "-k", `${MANIFESTS}/monitoring`]);
  assert.equal(res.code, 0, `kubectl apply -k manifests/monitoring/ failed:\n${res.stderr}`);
  await kubectlOk(["-n", NAMESPACE, "get", "servicemonitor/berth-controller", "prometheusrule/berth"]);
});

test("deleting the leader Pod hands the Lease to a live replica within the lease bound", async (t) => {
  const before = await pods(CONTROLLER_SELECTOR);
  const holder = await leaseHolder();
  const leader = podOfIdentity(before, holder);
  const standby = before.find((pod) => pod !== leader);
  assert.ok(leader && standby, `a leader (${holder}) and a standby`);
  // The deleted leader's own account of its stop (draining, releasing), kept after it is gone.
  const leaderLog = spawnForTest(t, "kubectl", ["-n", NAMESPACE, "logs", "-f", leader.metadata.name]);
  const started = Date.now();
  await kubectlOk(["-n", NAMESPACE, "delete", "pod", leader.metadata.name, "--wait=false"]);
  // A clean stop releases the Lease (a candidate takes it within a retry period); a killed
  // leader's expires. Either way the lease duration plus a retry period (with its jitter)
  // bounds it, with margin for a loaded machine. Every live candidate campaigns: the standby,
  // and the Pod the Deployment starts in the deleted one's place, which takes a released
  // Lease when it asks before the standby's next retry. Either is a correct hand-over.
  const bound = LEASE_DURATION_MS + RETRY_PERIOD_MS * 1.2 + 15_000;
  const next = await waitFor(
    "a live controller Pod other than the deleted leader to take the Lease",
    async () => {
      const now = await leaseHolder();
      if (now === "" || now === holder) return undefined;
      const pod = podOfIdentity(await pods(CONTROLLER_SELECTOR), now);
      return pod && pod.metadata.name !== leader.metadata.name ? { identity: now, pod } : undefined;
    },
    { timeoutMs: bound, intervalMs: 200 },
  ).catch(async (err: unknown) => {
    const deleted = `${leader.metadata.name} (deleted leader):\n${leaseLines(leaderLog.output())}`;
    throw new Error(`${String(err)}\n${deleted}\n${await leaseReport()}`);
  });
  const tookMs = Date.now() - started;
  const taker = next.pod.metadata.name === standby.metadata.name ? "the standby" : "the replacement";
  console.log(
    `# failover: ${taker} ${next.pod.metadata.name} took the Lease ${tookMs} ms after the leader Pod was deleted`,
  );
  // The Deployment replaces the deleted Pod: two Ready replicas again, one of them leading.
  const rollout = await kubectl(
    ["-n", NAMESPACE, "rollout", "status", "deployment/berth-controller", `--timeout=${ROLLOUT_TIMEOUT}`],
    { timeoutMs: 200_000 },
  );
  assert.equal(rollout.code, 0, rollout.stderr);
  await waitFor("two Ready controller Pods again", async () => {
    const now = await pods(CONTROLLER_SELECTOR);
    return now.length === 2 && now.every(isReady);
  });
  assert.ok(
    podOfIdentity(await pods(CONTROLLER_SELECTOR), await leaseHolder()),
    "a live controller Pod holds the Lease",
  );
});
