/**
 * The shipped manifests against a real API server: the kustomize base renders and passes
 * server-side validation, the controller's and agents' identities get exactly the access
 * the code needs (checked with `kubectl auth can-i` as each ServiceAccount), and the
 * agents' admission policy keeps an agent to its own Node, Lease and Instances.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import assert from "node:assert/strict";
import { kubectl, kubectlOk, run, testNamespace, waitFor } from "../harness/index.js";
import {
  CONTROLLER,
  MANIFESTS,
  type Manifest,
  NAMESPACE,
  agentIdentity,
  applyAccessControl,
  assertAccess,
  find,
  parseManifests,
  renderBase,
} from "./manifests-fixtures.js";

test("kubectl kustomize renders the base with CRDs, RBAC and a hardened controller Deployment", async () => {
  const { objects } = await renderBase();
  const crds = objects.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata.name);
  assert.deepEqual(crds.sort(), ["definitions.berth.dev", "instances.berth.dev", "nodes.berth.dev"]);
  find(objects, "Namespace", NAMESPACE);
  find(objects, "ServiceAccount", "berth-controller");
  find(objects, "ValidatingAdmissionPolicy", "berth-agent-node-restriction");
  find(objects, "Service", "berth-controller-metrics");

  const container = hardenedContainer(objects, "berth-controller");
  assert.ok(container.args.includes("--leader-elect=true"), `args: ${container.args.join(" ")}`);
});

test("the rendered base passes server-side dry-run", async () => {
  const { text } = await renderBase();
  const res = await kubectl(["apply", "--dry-run=server", "-f", "-"], { input: text, timeoutMs: 120_000 });
  assert.equal(res.code, 0, `kubectl apply --dry-run=server failed:\n${res.stderr}`);
  assert.match(
    res.stdout,
    /deployment\.apps\/berth-controller (created|configured|unchanged) \(server dry run\)/,
  );
});

test("the controller's pod meets the restricted Pod Security Standard", async (t) => {
  const { objects } = await renderBase();
  const deployment = find(objects, "Deployment", "berth-controller") as Manifest & {
    spec: {
      template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string } };
    };
  };
  const namespace = await testNamespace(t, "berth-manifests-psa");
  await kubectlOk([
    "label",
    "namespace",
    namespace,
    "pod-security.kubernetes.io/enforce=restricted",
    "pod-security.kubernetes.io/warn=restricted",
  ]);
  await kubectlOk([
    "-n",
    namespace,
    "create",
    "serviceaccount",
    deployment.spec.template.spec.serviceAccountName,
  ]);
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "berth-controller", namespace, labels: deployment.spec.template.metadata.labels },
    spec: deployment.spec.template.spec,
  };
  const res = await kubectl(["apply", "--dry-run=server", "-f", "-"], { input: JSON.stringify(pod) });
  assert.equal(res.code, 0, `the pod was refused:\n${res.stderr}`);
  assert.doesNotMatch(res.stderr, /violate/, res.stderr);
});

test("the optional monitoring kustomization renders and its rules match the plain rules file", async () => {
  const objects = parseManifests(await kubectlOk(["kustomize", `${MANIFESTS}/monitoring`]));
  const rule = find(objects, "PrometheusRule", "berth") as Manifest & { spec: { groups: unknown } };
  find(objects, "ServiceMonitor", "berth-controller");
  const dashboard = find(objects, "ConfigMap", "berth-grafana-dashboard") as Manifest & {
    data: Record<string, string>;
  };
  const json = JSON.parse(dashboard.data["grafana-dashboard.json"] ?? "") as {
    uid: string;
    panels: unknown[];
  };
  assert.equal(json.uid, "berth-overview");
  assert.ok(json.panels.length > 0);

  const plain = parseManifests(
    await readFile(`${MANIFESTS}/monitoring/berth-rules.yaml`, "utf8"),
  )[0] as unknown as {
    groups: unknown;
  };
  assert.deepEqual(rule.spec.groups, plain.groups, "prometheusrule.yaml and berth-rules.yaml differ");
  const check = await run("promtool", ["check", "rules", `${MANIFESTS}/monitoring/berth-rules.yaml`]);
  assert.equal(check.code, 0, `promtool check rules:\n${check.stdout}${check.stderr}`);
});

test("the controller's identity has what the controller does and nothing more", async () => {
  await applyAccessControl();
  await assertAccess(
    CONTROLLER,
    [
      ["list", "definitions.berth.dev", "--all-namespaces"],
      ["watch", "definitions.berth.dev", "--all-namespaces"],
      ["patch", "definitions.berth.dev", "-n", "team-a"],
      ["patch", "definitions.berth.dev", "--subresource=status", "-n", "team-a"],
      ["create", "instances.berth.dev", "-n", "team-a"],
      ["patch", "instances.berth.dev", "-n", "team-a"],
      ["delete", "instances.berth.dev", "-n", "team-a"],
      ["patch", "instances.berth.dev", "--subresource=status", "-n", "team-a"],
      ["list", "nodes.berth.dev"],
      ["patch", "nodes.berth.dev", "--subresource=status"],
      // Referenced Secrets are hashed into the deploymentId (see docs/deploy.md).
      ["get", "secrets", "-n", "team-a"],
      ["watch", "configmaps", "--all-namespaces"],
      ["create", "events.events.k8s.io", "-n", "team-a"],
      ["watch", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["create", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["update", "leases.coordination.k8s.io/berth-controller", "-n", NAMESPACE],
      // The deployment salt: read by name, created once when absent.
      ["get", "secrets/berth-deployment-salt", "-n", NAMESPACE],
      ["create", "secrets", "-n", NAMESPACE],
      // The discovery mirror: headless Services and their EndpointSlices (docs/discovery.md).
      ["watch", "services", "--all-namespaces"],
      ["create", "services", "-n", "team-a"],
      ["patch", "services", "-n", "team-a"],
      ["delete", "services", "-n", "team-a"],
      ["watch", "endpointslices.discovery.k8s.io", "--all-namespaces"],
      ["create", "endpointslices.discovery.k8s.io", "-n", "team-a"],
      ["update", "endpointslices.discovery.k8s.io", "-n", "team-a"],
      ["delete", "endpointslices.discovery.k8s.io", "-n", "team-a"],
    ],
    [
      ["create", "definitions.berth.dev", "-n", "team-a"],
      ["update", "definitions.berth.dev", "-n", "team-a"],
      ["update", "instances.berth.dev", "-n", "team-a"],
      ["delete", "definitions.berth.dev", "-n", "team-a"],
      ["create", "nodes.berth.dev"],
      ["patch", "nodes.berth.dev"],
      ["delete", "nodes.berth.dev"],
      ["create", "secrets", "-n", "team-a"],
      ["update", "secrets", "-n", "team-a"],
      ["delete", "secrets", "-n", "team-a"],
      ["update", "configmaps", "-n", "team-a"],
      ["update", "leases.coordination.k8s.io/berth-node-worker-1", "-n", NAMESPACE],
      ["update", "secrets/berth-deployment-salt", "-n", NAMESPACE],
      ["patch", "secrets/berth-deployment-salt", "-n", NAMESPACE],
      ["delete", "secrets/berth-deployment-salt", "-n", NAMESPACE],
      ["create", "leases.coordination.k8s.io", "-n", "kube-system"],
      ["create", "pods", "-n", NAMESPACE],
      ["list", "pods", "--all-namespaces"],
      ["create", "clusterrolebindings"],
      ["impersonate", "serviceaccounts", "-n", NAMESPACE],
      ["create", "customresourcedefinitions.apiextensions.k8s.io"],
      // Services are made, never changed in place; nothing else in core discovery.
      ["update", "services", "-n", "team-a"],
      ["patch", "services", "--subresource=status", "-n", "team-a"],
      ["patch", "endpointslices.discovery.k8s.io", "-n", "team-a"],
      ["create", "endpoints", "-n", "team-a"],
      ["update", "services/finalizers", "-n", "team-a"],
    ],
  );
});

test("an agent's identity can run its Instances and heartbeat, and reads no tenant's Secrets or Definitions", async (t) => {
  await applyAccessControl();
  const node = `manifests-${randomBytes(3).toString("hex")}`;
  const other = `manifests-${randomBytes(3).toString("hex")}`;
  const agent = await agentIdentity(t, node);
  await agentIdentity(t, other);
  await assertAccess(
    agent,
    [
      ["list", "instances.berth.dev", "--all-namespaces"],
      ["watch", "instances.berth.dev", "--all-namespaces"],
      ["patch", "instances.berth.dev", "-n", "team-a"],
      ["patch", "instances.berth.dev", "--subresource=status", "-n", "team-a"],
      ["create", "nodes.berth.dev"],
      ["list", "nodes.berth.dev"],
      ["patch", "nodes.berth.dev", "--subresource=status"],
      // The environments delivered to its own Node, and nothing else of Secrets.
      ["get", "secrets", "-n", `berth-node-${node}`],
      ["list", "secrets", "-n", `berth-node-${node}`],
      ["watch", "secrets", "-n", `berth-node-${node}`],
      ["create", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["update", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["create", "events.events.k8s.io", "-n", "team-a"],
      ["get", `namespaces/${NAMESPACE}`],
    ],
    [
      ["get", "namespaces/team-a"],
      ["list", "namespaces"],
      ["get", "secrets", "-n", "team-a"],
      ["get", "configmaps", "-n", "team-a"],
      ["list", "secrets", "-n", "team-a"],
      ["watch", "secrets", "--all-namespaces"],
      ["get", "secrets", "-n", NAMESPACE],
      ["get", `secrets/berth-agent-${other}-token`, "-n", NAMESPACE],
      ["get", "secrets", "-n", `berth-node-${other}`],
      ["list", "secrets", "-n", `berth-node-${other}`],
      ["create", "secrets", "-n", `berth-node-${node}`],
      ["update", "secrets", "-n", `berth-node-${node}`],
      ["delete", "secrets", "-n", `berth-node-${node}`],
      ["get", "definitions.berth.dev", "-n", "team-a"],
      ["list", "definitions.berth.dev", "--all-namespaces"],
      ["create", "definitions.berth.dev", "-n", "team-a"],
      ["patch", "definitions.berth.dev", "-n", "team-a"],
      ["delete", "definitions.berth.dev", "-n", "team-a"],
      ["patch", "definitions.berth.dev", "--subresource=status", "-n", "team-a"],
      ["create", "instances.berth.dev", "-n", "team-a"],
      ["delete", "instances.berth.dev", "-n", "team-a"],
      ["delete", "nodes.berth.dev"],
      ["update", "instances.berth.dev", "-n", "team-a"],
      ["create", "leases.coordination.k8s.io", "-n", "default"],
      ["update", "leases.coordination.k8s.io", "-n", "kube-system"],
      ["delete", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["create", "events", "-n", "team-a"],
      ["delete", "events.events.k8s.io", "-n", "team-a"],
      ["create", "namespaces"],
      ["create", "pods", "-n", "team-a"],
      ["create", "clusterrolebindings"],
      ["create", "services", "-n", "team-a"],
      ["update", "endpointslices.discovery.k8s.io", "-n", "team-a"],
    ],
  );
  // The controller writes the environments of that Node's Instances, and only in its namespace.
  await assertAccess(
    CONTROLLER,
    [
      ["create", "secrets", "-n", `berth-node-${node}`],
      ["update", "secrets", "-n", `berth-node-${node}`],
      ["delete", "secrets", "-n", `berth-node-${node}`],
    ],
    [
      // berth-system: only its deployment salt, created once (the controller test above).
      ["update", "secrets", "-n", NAMESPACE],
      ["create", "secrets", "-n", "team-a"],
      ["delete", "secrets", "-n", "team-a"],
      ["create", "namespaces"],
    ],
  );
});

/**
 * Kept by a finalizer of this test's own: a Berth controller running against the same
 * cluster deletes Instances without a Definition, and these must outlive the checks.
 */
const TEST_FINALIZER = "berth.dev/manifests-test";

function instanceManifest(namespace: string, name: string, nodeName: string): string {
  return JSON.stringify({
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace, name, finalizers: [TEST_FINALIZER] },
    spec: {
      definition: "web",
      deploymentId: "0123456789abcdef0123",
      nodeName,
      template: { image: { name: "berth-test/echo:1", port: 8080 } },
    },
  });
}

test("the admission policy keeps an agent to its own Node, Lease and Instances", async (t) => {
  await applyAccessControl();
  const namespace = await testNamespace(t, "berth-manifests");
  const suffix = randomBytes(3).toString("hex");
  const own = `own-${suffix}`;
  const other = `other-${suffix}`;
  const agent = await agentIdentity(t, own);
  for (const [name, node] of [
    ["mine", own],
    ["theirs", other],
  ] as const) {
    await kubectlOk(["create", "-f", "-"], { input: instanceManifest(namespace, name, node) });
    t.after(async () => {
      await kubectl([
        "-n",
        namespace,
        "patch",
        "instance.berth.dev",
        name,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
      ]);
    });
  }

  const asAgent = (args: string[], input?: string) =>
    kubectl(["--as", agent, ...args, "--dry-run=server"], input === undefined ? {} : { input });
  const statusPatch = (name: string) =>
    asAgent([
      "patch",
      "instance.berth.dev",
      name,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"message":"x"}}',
    ]);
  const nodeManifest = (name: string) =>
    JSON.stringify({
      apiVersion: "berth.dev/v1alpha1",
      kind: "Node",
      metadata: { name },
      spec: { url: `tcp://10.0.0.1:2376`, address: "10.0.0.1" },
    });
  const leaseManifest = (name: string) =>
    JSON.stringify({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { namespace: NAMESPACE, name },
      spec: { holderIdentity: "agent", leaseDurationSeconds: 40 },
    });

  // The policy takes effect a moment after it is created: wait for its first denial.
  const denied = await waitFor(
    "the admission policy to deny another Node's Instance",
    async () => {
      const res = await statusPatch("theirs");
      return res.code !== 0 && /may only write Instances bound to it/.test(res.stderr) ? res : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.match(denied.stderr, /ValidatingAdmissionPolicy/);

  const mine = await statusPatch("mine");
  assert.equal(mine.code, 0, `own Instance status: ${mine.stderr}`);
  const finalizer = await asAgent([
    "patch",
    "instance.berth.dev",
    "theirs",
    "-n",
    namespace,
    "--type=merge",
    "-p",
    '{"metadata":{"finalizers":["berth.dev/container"]}}',
  ]);
  assert.notEqual(finalizer.code, 0, "patching another Node's Instance must be denied");

  const ownNode = await asAgent(["create", "-f", "-"], nodeManifest(own));
  assert.equal(ownNode.code, 0, `own Node: ${ownNode.stderr}`);
  const otherNode = await asAgent(["create", "-f", "-"], nodeManifest(other));
  assert.notEqual(otherNode.code, 0, "creating another Node must be denied");
  assert.match(otherNode.stderr, /may not write Node/);

  const ownLease = await asAgent(["create", "-f", "-"], leaseManifest(`berth-node-${own}`));
  assert.equal(ownLease.code, 0, `own Lease: ${ownLease.stderr}`);
  const otherLease = await asAgent(["create", "-f", "-"], leaseManifest(`berth-node-${other}`));
  assert.notEqual(otherLease.code, 0, "creating another Node's Lease must be denied");
  assert.match(otherLease.stderr, /may only write the Lease/);

  // The controller is not an agent: the policy leaves it alone.
  const controllerPatch = await kubectl([
    "--as",
    CONTROLLER,
    "patch",
    "instance.berth.dev",
    "theirs",
    "-n",
    namespace,
    "--subresource=status",
    "--type=merge",
    "-p",
    '{"status":{"message":"x"}}',
    "--dry-run=server",
  ]);
  assert.equal(controllerPatch.code, 0, `controller status patch: ${controllerPatch.stderr}`);
});

test("the documented agent kubeconfig authenticates as that agent and has its rights", async (t) => {
  await applyAccessControl();
  const node = `token-${randomBytes(3).toString("hex")}`;
  const agent = await agentIdentity(t, node);
  // The short-lived token path of docs/deploy.md (the long-lived Secret needs
  // kube-controller-manager's token controller, which a bare control plane may not run).
  const token = (
    await kubectlOk(["-n", NAMESPACE, "create", "token", `berth-agent-${node}`, "--duration=10m"])
  ).trim();
  const ca = Buffer.from(
    await kubectlOk([
      "config",
      "view",
      "--raw",
      "--minify",
      "-o",
      "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]),
    "base64",
  ).toString();
  assert.match(ca, /BEGIN CERTIFICATE/);
  const server = await kubectlOk([
    "config",
    "view",
    "--minify",
    "-o",
    "jsonpath={.clusters[0].cluster.server}",
  ]);

  const dir = await mkdtemp(join(tmpdir(), "berth-agent-kubeconfig-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "kubeconfig");
  const caFile = join(dir, "ca.crt");
  await writeFile(caFile, ca);
  const config = (args: string[]) => run("kubectl", [`--kubeconfig=${kubeconfig}`, ...args]);
  for (const args of [
    [
      "config",
      "set-cluster",
      "berth",
      `--server=${server}`,
      `--certificate-authority=${caFile}`,
      "--embed-certs=true",
    ],
    ["config", "set-credentials", `berth-agent-${node}`, `--token=${token}`],
    ["config", "set-context", "berth", "--cluster=berth", `--user=berth-agent-${node}`],
    ["config", "use-context", "berth"],
  ]) {
    const res = await config(args);
    assert.equal(res.code, 0, `kubectl ${args.slice(0, 2).join(" ")}: ${res.stderr}`);
  }
  const whoami = await config(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal(whoami.stdout, agent);
  const listInstances = await config(["get", "instances.berth.dev", "--all-namespaces", "-o", "name"]);
  assert.equal(listInstances.code, 0, `the agent lists Instances: ${listInstances.stderr}`);
  const deleteDefinitions = await config([
    "auth",
    "can-i",
    "delete",
    "definitions.berth.dev",
    "-n",
    "default",
  ]);
  assert.equal(deleteDefinitions.stdout.trim(), "no");
});

const REGISTRY = `system:serviceaccount:${NAMESPACE}:berth-registry`;

test("the registry's Deployment is hardened like the controller's, with two serving replicas", async () => {
  const { objects } = await renderBase();
  find(objects, "Service", "berth-registry");
  find(objects, "PodDisruptionBudget", "berth-registry");
  const container = hardenedContainer(objects, "berth-registry");
  assert.equal(container.args[0], "registry");
  assert.ok(container.args.includes("--registry-bind-address=0.0.0.0:9470"));
  assert.ok(
    !container.args.some((a) => a.startsWith("--registry-allow-anonymous")),
    "no anonymous reads in a cluster",
  );
});

test("the registry's identity reads what lookup and the web index need, reviews tokens and access, and writes only Instances", async () => {
  await applyAccessControl();
  await assertAccess(
    REGISTRY,
    [
      ["list", "definitions.berth.dev", "--all-namespaces"],
      ["watch", "definitions.berth.dev", "--all-namespaces"],
      ["watch", "instances.berth.dev", "--all-namespaces"],
      ["list", "nodes.berth.dev"],
      ["watch", "nodes.berth.dev"],
      ["list", "events.events.k8s.io", "--all-namespaces"],
      ["watch", "events.events.k8s.io", "--all-namespaces"],
      ["create", "instances.berth.dev", "-n", "team-a"],
      ["delete", "instances.berth.dev", "-n", "team-a"],
      ["patch", "instances.berth.dev", "--subresource=status", "-n", "team-a"],
      ["create", "tokenreviews.authentication.k8s.io"],
      ["create", "subjectaccessreviews.authorization.k8s.io"],
    ],
    [
      ["create", "definitions.berth.dev", "-n", "team-a"],
      ["patch", "definitions.berth.dev", "-n", "team-a"],
      ["delete", "definitions.berth.dev", "-n", "team-a"],
      ["patch", "definitions.berth.dev", "--subresource=status", "-n", "team-a"],
      ["patch", "instances.berth.dev", "-n", "team-a"],
      ["update", "instances.berth.dev", "-n", "team-a"],
      ["create", "nodes.berth.dev"],
      ["patch", "nodes.berth.dev", "--subresource=status"],
      ["get", "secrets", "-n", "team-a"],
      ["get", "configmaps", "-n", "team-a"],
      ["create", "leases.coordination.k8s.io", "-n", NAMESPACE],
      ["create", "events.events.k8s.io", "-n", "team-a"],
      ["delete", "events.events.k8s.io", "-n", "team-a"],
      ["list", "events", "-n", "team-a"],
      ["create", "pods", "-n", NAMESPACE],
      ["create", "clusterrolebindings"],
      ["impersonate", "serviceaccounts", "-n", NAMESPACE],
      ["create", "localsubjectaccessreviews.authorization.k8s.io", "-n", "team-a"],
      // Publishing to core discovery is the controller's, not the registry's.
      ["create", "services", "-n", "team-a"],
      ["create", "endpointslices.discovery.k8s.io", "-n", "team-a"],
      ["delete", "endpointslices.discovery.k8s.io", "-n", "team-a"],
    ],
  );
});

test("the admission policy keeps the registry's writes to external Instances", async (t) => {
  await applyAccessControl();
  const namespace = await testNamespace(t, "berth-manifests");
  const asRegistry = (args: string[], input?: string) =>
    kubectl(["--as", REGISTRY, ...args, "--dry-run=server"], input === undefined ? {} : { input });
  const berthRun = instanceManifest(namespace, "berth-run", "worker-1");
  const external = JSON.stringify({
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace, name: "registered" },
    spec: { definition: "web", external: { url: "http://192.0.2.1:8080", ttlSeconds: 30 } },
  });
  const denied = await waitFor(
    "the admission policy to deny the registry a Berth-run Instance",
    async () => {
      const res = await asRegistry(["create", "-f", "-"], berthRun);
      return res.code !== 0 && /may only write external Instances/.test(res.stderr) ? res : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.match(denied.stderr, /ValidatingAdmissionPolicy/);
  const allowed = await asRegistry(["create", "-f", "-"], external);
  assert.equal(allowed.code, 0, `an external Instance: ${allowed.stderr}`);
  await kubectlOk(["create", "-f", "-"], { input: berthRun });
  t.after(async () => {
    await kubectl([
      "-n",
      namespace,
      "patch",
      "instance.berth.dev",
      "berth-run",
      "--type=merge",
      "-p",
      '{"metadata":{"finalizers":null}}',
    ]);
  });
  const deleteBerthRun = await asRegistry(["delete", "instance.berth.dev", "berth-run", "-n", namespace]);
  assert.notEqual(deleteBerthRun.code, 0, "deleting a Berth-run Instance must be denied");
  assert.match(deleteBerthRun.stderr, /may only write external Instances/);
});

interface HardenedDeployment extends Manifest {
  spec: {
    replicas: number;
    template: {
      spec: {
        serviceAccountName: string;
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        containers: Array<{
          args: string[];
          livenessProbe?: unknown;
          readinessProbe?: unknown;
          resources: { requests?: object; limits?: { memory?: string } };
          securityContext: {
            allowPrivilegeEscalation: boolean;
            readOnlyRootFilesystem: boolean;
            runAsNonRoot: boolean;
            capabilities: { drop: string[] };
          };
        }>;
      };
    };
  };
}

/**
 * The one container of a Deployment named like its ServiceAccount, after checking what every
 * Berth Deployment must be: two replicas, non-root, probes, resources, no escalation, a
 * read-only root and no capabilities.
 */
function hardenedContainer(objects: Manifest[], name: string) {
  const deployment = find(objects, "Deployment", name) as HardenedDeployment;
  assert.equal(deployment.spec.replicas, 2);
  const pod = deployment.spec.template.spec;
  assert.equal(pod.serviceAccountName, name);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.notEqual(pod.securityContext.runAsUser, 0);
  const [container] = pod.containers;
  assert.ok(container, `${name} has a container`);
  assert.ok(container.livenessProbe && container.readinessProbe, "probes");
  assert.ok(container.resources.requests && container.resources.limits?.memory, "resources");
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.runAsNonRoot, true);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  return container;
}
