/**
 * Berth's API against the real kube-apiserver: every manifest in invalid/ is refused at
 * `kubectl apply` time with a message naming the field and the problem, every example in
 * manifests/examples/ is accepted, and the kubectl conveniences (short names, category,
 * printer columns, field selectors, explain) work.
 *
 * An invalid/ fixture is a YAML file whose header comments are the reason (first line) and
 * `# expect: <substring of kubectl's error>` lines. Its last document must be refused;
 * documents before it are applied first and must succeed (for update rules).
 */
import { test } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { kubectl, kubectlOk, testNamespace } from "../harness/index.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const INVALID_DIR = path.join(HERE, "invalid");
const EXAMPLES_DIR = path.resolve(HERE, "../../manifests/examples");
const HOLD_FINALIZER = "test.berth.dev/hold";

interface Fixture {
  file: string;
  why: string;
  expect: string[];
  setup: string[];
  manifest: string;
}

interface ObjectRef {
  kind: string;
  name: string;
}

function loadFixture(file: string): Fixture {
  const text = readFileSync(path.join(INVALID_DIR, file), "utf8");
  const header = text.split("\n").filter((line) => line.startsWith("# "));
  const expect = header.filter((l) => l.startsWith("# expect: ")).map((l) => l.slice("# expect: ".length));
  const why = header.find((l) => !l.startsWith("# expect: "))?.slice(2) ?? "";
  const docs = text.split(/^---\s*$/m).filter((doc) => doc.trim() !== "");
  const manifest = docs.pop() ?? "";
  return { file, why, expect, setup: docs, manifest };
}

function refOf(doc: string): ObjectRef {
  const obj = YAML.parse(doc) as { kind: string; metadata: { name: string } };
  return { kind: obj.kind, name: obj.metadata.name };
}

/** `instance.berth.dev`: never ambiguous with core kinds such as nodes. */
function resource(ref: ObjectRef): string {
  return `${ref.kind.toLowerCase()}.berth.dev/${ref.name}`;
}

/** Lets go of an object the test held with HOLD_FINALIZER, and deletes it. */
async function release(ns: string, ref: ObjectRef): Promise<void> {
  const patch = JSON.stringify({ metadata: { finalizers: null } });
  await kubectl(["patch", resource(ref), "-n", ns, "--type=merge", "-p", patch]);
  await kubectl(["delete", resource(ref), "-n", ns, "--ignore-not-found", "--wait=false"]);
}

const fixtures = readdirSync(INVALID_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map(loadFixture);

test("the catalogue of invalid manifests covers at least 30 cases, each saying what it expects", () => {
  assert.ok(fixtures.length >= 30, `only ${fixtures.length} fixtures in ${INVALID_DIR}`);
  for (const fixture of fixtures) {
    assert.ok(fixture.why, `${fixture.file}: first comment line says why it is invalid`);
    assert.ok(fixture.expect.length > 0, `${fixture.file}: has # expect: lines`);
    assert.ok(fixture.manifest.includes("kind:"), `${fixture.file}: has a manifest`);
  }
});

test("every invalid manifest is refused at kubectl apply, naming the field and the problem", async (t) => {
  const ns = await testNamespace(t, "berth-api");
  for (const fixture of fixtures) {
    await t.test(fixture.file, async () => {
      const held = fixture.setup.map(refOf);
      try {
        for (const doc of fixture.setup) await kubectlOk(["apply", "-n", ns, "-f", "-"], { input: doc });
        const res = await kubectl(["apply", "-n", ns, "-f", "-"], { input: fixture.manifest });
        assert.notEqual(res.code, 0, `${fixture.file} (${fixture.why}) was accepted:\n${res.stdout}`);
        for (const expected of fixture.expect) {
          assert.ok(
            res.stderr.includes(expected),
            `${fixture.file}: kubectl's error should contain "${expected}", it was:\n${res.stderr}`,
          );
        }
        if (held.length === 0) {
          // Refused at creation: nothing of it reached etcd.
          const ref = refOf(fixture.manifest);
          const get = await kubectl(["get", resource(ref), "-n", ns]);
          assert.match(get.stderr, /NotFound/, `${fixture.file}: ${ref.name} must not exist`);
        }
      } finally {
        for (const ref of held) await release(ns, ref);
      }
    });
  }
});

test("every example in manifests/examples is accepted by the API server", async (t) => {
  const ns = await testNamespace(t, "berth-api");
  const examples = readdirSync(EXAMPLES_DIR, { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".yaml"),
  );
  for (const required of [
    "hello.yaml",
    "web.yaml",
    "internet/test-a.yaml",
    "internet/test-b.yaml",
    "admin/node.yaml",
  ])
    assert.ok(examples.includes(required), required);
  for (const file of examples) {
    const res = await kubectl(["apply", "--dry-run=server", "-n", ns, "-f", path.join(EXAMPLES_DIR, file)]);
    assert.equal(res.code, 0, `${file} was refused:\n${res.stderr}`);
  }
});

test("the top-level examples run with no internet: locally built images only, no Node", () => {
  const topLevel = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith(".yaml"));
  assert.ok(topLevel.length >= 2, `examples found: ${topLevel.join(", ")}`);
  for (const file of topLevel) {
    for (const doc of YAML.parseAllDocuments(readFileSync(path.join(EXAMPLES_DIR, file), "utf8"))) {
      const object = doc.toJS() as {
        kind?: string;
        spec?: { image?: { name?: string }; repository?: unknown };
      };
      assert.notEqual(object.kind, "Node", `${file} registers a Node: keep it under admin/`);
      if (object.kind !== "Definition") continue;
      assert.equal(
        object.spec?.repository,
        undefined,
        `${file} builds from a repository: keep it under internet/`,
      );
      assert.match(
        object.spec?.image?.name ?? "",
        /^berth-test\//,
        `${file} needs a registry: keep it under internet/`,
      );
    }
  }
});

test("the API server fills in defaults and keeps what the seed examples set", async (t) => {
  const ns = await testNamespace(t, "berth-api");
  const applied = async (file: string) => {
    const out = await kubectlOk(["apply", "--dry-run=server", "-n", ns, "-o", "json", "-f", file]);
    return JSON.parse(out) as { spec: Record<string, unknown> & { replicas: number } };
  };
  const b = await applied(path.join(EXAMPLES_DIR, "internet/test-b.yaml"));
  assert.equal(b.spec.replicas, 1);
  assert.equal(b.spec.hostPort, 9998);
  assert.deepEqual(b.spec.repository, {
    url: "https://github.com/openorch/openorch.git",
    containerFile: "server/docker/Dockerfile",
    contextDir: ".",
  });
  const a = await applied(path.join(EXAMPLES_DIR, "internet/test-a.yaml"));
  assert.deepEqual(a.spec.image, { name: "hashicorp/http-echo", port: 8080, pullPolicy: "IfNotPresent" });
  assert.equal(a.spec.hostPort, 8887);
});

/** Creates an Instance held by HOLD_FINALIZER (controllers under test elsewhere may evict it). */
async function heldInstance(t: TestContext, ns: string, name: string, definition: string, nodeName: string) {
  const manifest = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { name, finalizers: [HOLD_FINALIZER] },
    spec: {
      definition,
      deploymentId: "0123456789abcdef",
      nodeName,
      template: { image: { name: "berth-test/echo:1", port: 8080 } },
    },
  };
  await kubectlOk(["apply", "-n", ns, "-f", "-"], { input: JSON.stringify(manifest) });
  t.after(() => release(ns, { kind: "Instance", name }));
}

test("Instances can be selected by spec.nodeName and spec.definition, and list with their columns", async (t) => {
  const ns = await testNamespace(t, "berth-api");
  const suffix = randomBytes(3).toString("hex");
  const [nodeA, nodeB] = [`sel-a-${suffix}`, `sel-b-${suffix}`];
  await heldInstance(t, ns, "one", "alpha", nodeA);
  await heldInstance(t, ns, "two", "beta", nodeB);
  const select = (selector: string) =>
    kubectlOk(["get", "instances.berth.dev", "-n", ns, "--field-selector", selector, "-o", "name"]);
  assert.equal((await select(`spec.nodeName=${nodeA}`)).trim(), "instance.berth.dev/one");
  assert.equal((await select(`spec.definition=beta`)).trim(), "instance.berth.dev/two");
  const table = await kubectlOk(["get", "binsts", "-n", ns]);
  assert.match(
    table.split("\n")[0] ?? "",
    /^NAME\s+DEFINITION\s+NODE\s+PHASE\s+READY\s+ADDRESS\s+EXTERNAL\s+AGE$/,
  );
});

test("an external Instance declared with kubectl is accepted and its column tells it from Berth-run ones", async (t) => {
  const ns = await testNamespace(t, "berth-api");
  await heldInstance(t, ns, "run-by-berth", "db", "some-node");
  const external = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { name: "db-on-a-vm" },
    spec: { definition: "db", external: { url: "http://10.0.0.7:5432" } },
  };
  await kubectlOk(["apply", "-n", ns, "-f", "-"], { input: JSON.stringify(external) });
  const rows = (await kubectlOk(["get", "binsts", "-n", ns, "--no-headers"])).trim().split("\n");
  const externalRow = rows.find((row) => row.startsWith("db-on-a-vm"));
  const berthRun = rows.find((row) => row.startsWith("run-by-berth"));
  assert.match(externalRow ?? "", /\shttp:\/\/10\.0\.0\.7:5432\s/);
  assert.doesNotMatch(berthRun ?? "", /http:\/\/10\.0\.0\.7/);
});

test("Berth's Nodes are listed as bnodes, nodes.berth.dev and in the berth category, not as core nodes", async (t) => {
  const name = `api-test-${randomBytes(3).toString("hex")}`;
  const node = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Node",
    metadata: { name },
    // TEST-NET address: nothing answers there, so no agent or controller can use it.
    spec: { url: "tcp://192.0.2.10:2376", address: "192.0.2.10", unschedulable: true },
  };
  await kubectlOk(["apply", "-f", "-"], { input: JSON.stringify(node) });
  t.after(() => kubectl(["delete", `node.berth.dev/${name}`, "--ignore-not-found", "--wait=false"]));
  const ref = `node.berth.dev/${name}`;
  assert.ok((await kubectlOk(["get", "bnodes", "-o", "name"])).includes(ref));
  assert.ok((await kubectlOk(["get", "nodes.berth.dev", "-o", "name"])).includes(ref));
  assert.ok((await kubectlOk(["get", "berth", "-A", "-o", "name"])).includes(ref));
  assert.ok(!(await kubectlOk(["get", "nodes", "-o", "name"])).includes(name), "core nodes stay apart");
  const table = await kubectlOk(["get", "bnode", name]);
  assert.match(table.split("\n")[0] ?? "", /^NAME\s+URL\s+READY\s+INSTANCES\s+LAST HEARTBEAT\s+AGE$/);
});

test("Definitions list with READY and ADDRESSES columns and explain prints the field docs", async (t) => {
  const ns = await testNamespace(t, "berth-api");
  // replicas 0: a controller running elsewhere has nothing to start for it.
  const manifest = "apiVersion: berth.dev/v1alpha1\nkind: Definition\nmetadata: {name: columns}\n";
  const spec = "spec: {image: {name: berth-test/echo:1, port: 8080}, replicas: 0}\n";
  await kubectlOk(["apply", "-n", ns, "-f", "-"], { input: manifest + spec });
  const table = await kubectlOk(["get", "bdef", "-n", ns]);
  assert.match(table.split("\n")[0] ?? "", /^NAME\s+READY\s+ADDRESSES\s+AGE$/);
  const explained = await kubectlOk(["explain", "definition.spec.healthCheck"]);
  assert.match(explained, /timeoutSeconds\s+<integer>\s+timeoutSeconds for one check/);
  assert.match(await kubectlOk(["explain", "bnodes.spec.url"]), /url of the machine's Docker engine/);
});
