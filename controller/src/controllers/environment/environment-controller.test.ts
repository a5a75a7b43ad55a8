import { test } from "node:test";
import assert from "node:assert/strict";
import type { Definition, Instance } from "../../api/types.js";
import type { DeliveredEnvironment } from "../../environment/delivery.js";
import {
  environmentSecret,
  environmentSecretRef,
  readDeliveredEnvironment,
} from "../../environment/delivery.js";
import { KubeApiError } from "../../kube/errors.js";
import type { KubeObject, ResourceDescriptor, Secret } from "../../kube/resources.js";
import { FakeClock } from "../../testing/fake-clock.js";
import type { ReconcileContext } from "../../runtime/controller.js";
import { RecordingEventRecorder } from "../../testing/recording-events.js";
import { nullLogger } from "../../runtime/log.js";
import { ListInformer } from "../../testing/fake-informer.js";
import { FakeKubeClient } from "../../testing/fake-kube-client.js";
import type { ObjectRef } from "../../kube/client.js";
import { DEFAULT_SETTINGS, type ControllerCaches, type ControllerContext } from "../context.js";
import {
  EnvironmentReconciler,
  environmentOfDefinitionMayDiffer,
  environmentOfInstanceMayDiffer,
} from "./environment-controller.js";
import { DeploymentSalt } from "../definition/deployment-salt.js";
import { ReferencedContentHashes } from "../definition/referenced-content.js";
import { ApplyTrace } from "../apply-trace.js";
import { EXPECTED_WRITE_TTL_MS, ExpectedWrites } from "./expected-writes.js";

/** Answers reads from the test's Secrets and ConfigMaps, counting them apart from the writes. */
class ReadingClient extends FakeKubeClient {
  reads: string[] = [];
  readonly objects: Array<ListInformer<KubeObject>> = [];
  override async get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    this.reads.push(`${resource.kind}/${ref.name}`);
    const cache = this.objects[resource.kind === "Secret" ? 0 : 1];
    const found = cache?.get(ref.namespace, ref.name);
    if (!found) throw new KubeApiError(404, `${resource.plural} "${ref.name}" not found`);
    return structuredClone(found) as T;
  }
}

const dockerConfig = (host: string, auth: string) =>
  Buffer.from(JSON.stringify({ auths: { [host]: { auth: Buffer.from(auth).toString("base64") } } })).toString(
    "base64",
  );

function world() {
  const definition: Definition = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Definition",
    metadata: { namespace: "shop", name: "web", generation: 2, uid: "d1" },
    spec: {
      image: { name: "registry.example:5000/web:1", port: 8080, pullSecret: "regcred" },
      env: [
        { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
        { name: "GREETING", value: "hello" },
      ],
      dependsOn: ["db"],
    },
    status: { observedGeneration: 2, deploymentId: "id-current" },
  };
  const db: Definition = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Definition",
    metadata: { namespace: "shop", name: "db" },
    spec: { image: { name: "db", port: 5432 } },
    status: { addresses: ["http://10.0.0.7:5432"] },
  };
  const instance: Instance = {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "shop", name: "web-id-current-0", uid: "i1" },
    spec: {
      definition: "web",
      deploymentId: "id-current",
      nodeName: "node-a",
      environmentFrom: "NodeSecret",
      template: { image: { name: "registry.example:5000/web:1", port: 8080, pullSecret: "regcred" } },
    },
  };
  const secrets = new ListInformer<Secret>([
    {
      metadata: { namespace: "shop", name: "creds", uid: "c1", resourceVersion: "3" },
      data: { password: Buffer.from("s3cret").toString("base64") },
    },
    {
      metadata: { namespace: "shop", name: "regcred", uid: "c2", resourceVersion: "4" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": dockerConfig("registry.example:5000", "robot:pa55") },
    },
  ]);
  const client = new ReadingClient();
  const configMaps = new ListInformer<KubeObject>();
  client.objects.push(secrets as unknown as ListInformer<KubeObject>, configMaps);
  const events = new RecordingEventRecorder();
  const instances = new ListInformer<Instance>([instance]);
  const delivered = new ListInformer<Secret>();
  const caches = {
    definitions: new ListInformer<Definition>([definition, db]).asInformer(),
    instances: instances.asInformer(),
    nodes: new ListInformer().asInformer(),
    secrets: secrets.asInformer(),
    configMaps: configMaps.asInformer(),
    leases: new ListInformer().asInformer(),
  } as unknown as ControllerCaches;
  const context: ControllerContext = {
    client,
    caches,
    clock: new FakeClock(),
    logger: nullLogger,
    events,
    settings: DEFAULT_SETTINGS,
    trace: new ApplyTrace(),
    // Environments hash nothing: the salt is never read here.
    referencedContent: new ReferencedContentHashes(
      client,
      new DeploymentSalt(client, DEFAULT_SETTINGS.deploymentSaltNamespace),
      caches,
    ),
  };
  const reconciler = (watchNamespace?: string) =>
    new EnvironmentReconciler(context, delivered.asInformer(), watchNamespace);
  const ref = environmentSecretRef(instance);
  assert.ok(ref);
  const ctx: ReconcileContext = {
    log: nullLogger,
    reconcileID: "r",
    signal: new AbortController().signal,
    clock: context.clock,
  };
  const reconcile = (watchNamespace?: string) =>
    reconciler(watchNamespace).reconcile({ key: `${ref.namespace}/${ref.name}`, ...ref }, ctx);
  const written = (): DeliveredEnvironment | undefined => {
    const call = client.calls.findLast((c) => c.verb === "create" || c.verb === "replace");
    return readDeliveredEnvironment(call?.body as Secret | undefined, instance);
  };
  return {
    definition,
    instance,
    secrets,
    instances,
    delivered,
    client,
    events,
    ref,
    reconcile,
    reconciler,
    ctx,
    clock: context.clock as FakeClock,
    written,
  };
}

test("a bound Instance of the current deployment gets its environment resolved in its Node's namespace", async () => {
  const { client, ref, reconcile, written } = world();
  assert.equal(ref.namespace, "berth-node-node-a");
  assert.equal(ref.name, "shop.web-id-current-0");
  await reconcile();
  assert.deepEqual(
    client.calls.map((c) => c.verb),
    ["create"],
  );
  assert.deepEqual(written(), {
    env: [
      ["BERTH_DEP_DB_URL", "http://10.0.0.7:5432"],
      ["BERTH_DEP_DB_URLS", "http://10.0.0.7:5432"],
      ["PASSWORD", "s3cret"],
      ["GREETING", "hello"],
    ],
    pull: { auth: { username: "robot", password: "pa55", serverAddress: "registry.example:5000" } },
  });
});

test("an unchanged environment is not written again; a changed Secret value replaces it", async () => {
  const { instance, secrets, delivered, client, reconcile, written } = world();
  await reconcile();
  const first = client.calls.at(-1)?.body as Secret;
  delivered.items.push({ ...first, metadata: { ...first.metadata, uid: "s1", resourceVersion: "7" } });
  await reconcile();
  assert.equal(client.calls.length, 1, "nothing changed, nothing written");
  secrets.items[0] = {
    ...secrets.items[0],
    metadata: { ...secrets.items[0]?.metadata, resourceVersion: "9" },
    data: { password: Buffer.from("rotated").toString("base64") },
  };
  await reconcile();
  const call = client.calls.at(-1);
  assert.equal(call?.verb, "replace");
  assert.equal((call?.body as Secret).metadata?.resourceVersion, "7");
  assert.ok(written()?.env.some(([name, value]) => name === "PASSWORD" && value === "rotated"));
  assert.equal(instance.metadata.uid, "i1");
});

test("a pass before the cache shows this controller's create or replace asks nothing again, until the event or the time to live", async () => {
  const { secrets, delivered, client, ref, reconciler, ctx, clock } = world();
  const environment = reconciler();
  const request = { key: `${ref.namespace}/${ref.name}`, ...ref };
  const verbs = () => client.calls.map((c) => c.verb);
  await environment.reconcile(request, ctx);
  // The Instance or its Definition changed again before the Secret's add event came.
  const waiting = await environment.reconcile(request, ctx);
  assert.deepEqual(verbs(), ["create"], "no second create, refused as AlreadyExists by a real API server");
  assert.ok(waiting && (waiting.requeueAfterMs ?? 0) > 0, "looks again once the write's time to live is out");
  const created = client.calls.at(-1)?.body as Secret;
  const shown: Secret = { ...created, metadata: { ...created.metadata, uid: "s1", resourceVersion: "7" } };
  delivered.items.push(shown);
  for (const handlers of delivered.handlers) handlers.onAdd?.(shown);
  secrets.items[0] = {
    ...secrets.items[0],
    metadata: { ...secrets.items[0]?.metadata, resourceVersion: "9" },
    data: { password: Buffer.from("rotated").toString("base64") },
  };
  await environment.reconcile(request, ctx);
  await environment.reconcile(request, ctx);
  assert.deepEqual(
    verbs(),
    ["create", "replace"],
    "the replace is not asked again over the version it replaced",
  );
  clock.advance(EXPECTED_WRITE_TTL_MS);
  await environment.reconcile(request, ctx);
  assert.deepEqual(
    verbs(),
    ["create", "replace", "replace"],
    "an event that never came stops nothing for long",
  );
});

test("expected writes: any event of the key clears its note; at most the bound is kept, the oldest going first", () => {
  const delivered = new ListInformer<Secret>();
  const expected = new ExpectedWrites(delivered.asInformer(), 1000, 2);
  expected.wrote("ns/a", 0);
  expected.wrote("ns/b", 0);
  assert.equal(expected.waitMs("ns/a", 10), 990);
  for (const handlers of delivered.handlers)
    handlers.onDelete?.({ metadata: { namespace: "ns", name: "a" } });
  assert.equal(expected.waitMs("ns/a", 10), 0, "its delete event");
  expected.wrote("ns/c", 0);
  expected.wrote("ns/d", 0);
  assert.equal(expected.size, 2);
  assert.equal(expected.waitMs("ns/b", 10), 0, "the oldest went");
  assert.equal(expected.waitMs("ns/d", 10), 990);
  assert.equal(expected.waitMs("ns/d", 1000), 0, "expired");
  assert.equal(expected.size, 1);
});

test("a pass whose inputs are unchanged reads no Secret; a changed one is read once, and an unrelated Secret never", async () => {
  const { secrets, delivered, client, reconcile } = world();
  secrets.items.push({
    metadata: { namespace: "shop", name: "unrelated", uid: "c3", resourceVersion: "5" },
    data: { other: Buffer.from("x").toString("base64") },
  });
  await reconcile();
  assert.deepEqual(
    client.reads.sort(),
    ["Secret/creds", "Secret/regcred"],
    "each referenced Secret read once",
  );
  const first = client.calls.at(-1)?.body as Secret;
  delivered.items.push({ ...first, metadata: { ...first.metadata, uid: "s1", resourceVersion: "7" } });
  client.reads = [];
  await reconcile();
  await reconcile();
  assert.deepEqual(client.reads, [], "unchanged inputs: nothing read");
  // A new resourceVersion of a referenced Secret with the same value: read, nothing to say,
  // the digest is brought up to date so the next pass reads nothing again.
  secrets.items[0] = {
    ...secrets.items[0],
    metadata: { ...secrets.items[0]?.metadata, resourceVersion: "8" },
  };
  await reconcile();
  assert.deepEqual(client.reads.sort(), ["Secret/creds", "Secret/regcred"]);
  assert.equal(client.calls.at(-1)?.verb, "replace");
  const second = client.calls.at(-1)?.body as Secret;
  assert.equal(second.data?.["environment.json"], first.data?.["environment.json"], "same environment");
  delivered.items[0] = { ...second, metadata: { ...second.metadata, uid: "s1", resourceVersion: "8" } };
  client.reads = [];
  secrets.items[2] = {
    ...secrets.items[2],
    metadata: { ...secrets.items[2]?.metadata, resourceVersion: "6" },
  };
  await reconcile();
  assert.deepEqual(client.reads, [], "an unreferenced Secret's change reads nothing");
});

test("missing references become problems the agent shows, never values", async () => {
  const { secrets, reconcile, written } = world();
  secrets.items.splice(0, 2);
  await reconcile();
  const content = written();
  assert.equal(content?.problem?.reason, "CreateContainerConfigError");
  assert.match(content?.problem?.message ?? "", /Secret "creds" not found/);
  assert.deepEqual(content?.env, []);
  assert.ok(content?.pull && "problem" in content.pull);
  assert.equal(content.pull.problem.reason, "PullSecretNotFound");
});

test("an Instance of an earlier deployment, or a Definition whose status lags its spec, gets nothing new", async () => {
  const { definition, client, reconcile } = world();
  definition.status = { observedGeneration: 2, deploymentId: "id-next" };
  await reconcile();
  definition.status = { observedGeneration: 1, deploymentId: "id-current" };
  await reconcile();
  assert.equal(client.calls.length, 0);
});

test("the environment of an Instance that is gone (or terminating) is deleted; other tenants' are left alone", async () => {
  const { instance, instances, delivered, client, reconcile } = world();
  delivered.items.push({
    ...environmentSecret(instance, { env: [] }),
    metadata: { ...environmentSecret(instance, { env: [] }).metadata, uid: "s1" },
  });
  await reconcile("other-tenant");
  assert.equal(client.calls.length, 0, "a controller scoped to another namespace does not touch it");
  instance.metadata.deletionTimestamp = "2025-01-01T00:00:00Z";
  await reconcile();
  instances.items.splice(0, 1);
  await reconcile();
  assert.deepEqual(
    client.calls.map((c) => [c.verb, (c.body as { preconditions?: { uid?: string } }).preconditions?.uid]),
    [
      ["delete", "s1"],
      ["delete", "s1"],
    ],
  );
});

test("a missing Node namespace is created when allowed; otherwise, or without the right to write there, an Event names the fix", async () => {
  const notFound = new KubeApiError(404, 'namespaces "berth-node-node-a" not found');
  const forbidden = new KubeApiError(403, "namespaces is forbidden");
  const allowed = world();
  allowed.client.writeErrors.push(notFound);
  await allowed.reconcile();
  assert.deepEqual(
    allowed.client.calls.map((c) => [c.verb, (c.body as KubeObject).kind]),
    [
      ["create", "Secret"],
      ["create", "Namespace"],
      ["create", "Secret"],
    ],
  );

  const refused = world();
  refused.client.writeErrors.push(notFound, forbidden);
  await assert.rejects(refused.reconcile());
  const [event] = refused.events.events;
  assert.equal(event?.reason, "EnvironmentNotDelivered");
  assert.match(event?.message ?? "", /does not exist: create the identity .*identity-template\.yaml/);

  const unbound = world();
  unbound.client.writeErrors.push(forbidden);
  await assert.rejects(unbound.reconcile());
  assert.match(unbound.events.events[0]?.message ?? "", /may not write Secrets in berth-node-node-a/);
});

test("watches: an Instance's status or a Definition's counts wake no delivery of its own; what an environment holds does", () => {
  const instance = (fields: { nodeName?: string; phase?: string; deleting?: boolean; uid?: string } = {}) =>
    ({
      apiVersion: "berth.dev/v1alpha1",
      kind: "Instance",
      metadata: {
        namespace: "team",
        name: "web-1",
        uid: fields.uid ?? "u1",
        ...(fields.deleting ? { deletionTimestamp: "t" } : {}),
      },
      spec: {
        definition: "web",
        deploymentId: "d1",
        ...(fields.nodeName ? { nodeName: fields.nodeName } : {}),
      },
      ...(fields.phase ? { status: { phase: fields.phase } } : {}),
    }) as Instance;
  const bound = instance({ nodeName: "node-a" });
  assert.equal(
    environmentOfInstanceMayDiffer(bound, instance({ nodeName: "node-a", phase: "Running" })),
    false,
  );
  assert.equal(environmentOfInstanceMayDiffer(instance(), bound), true, "bound");
  assert.equal(environmentOfInstanceMayDiffer(bound, instance({ nodeName: "node-a", deleting: true })), true);
  assert.equal(environmentOfInstanceMayDiffer(bound, instance({ nodeName: "node-a", uid: "u2" })), true);

  const definition = (status: Definition["status"], spec: Partial<Definition["spec"]> = {}, generation = 1) =>
    ({
      apiVersion: "berth.dev/v1alpha1",
      kind: "Definition",
      metadata: { namespace: "team", name: "web", generation },
      spec: { image: { name: "registry.invalid/web:1", port: 8080 }, ...spec },
      status,
    }) as Definition;
  const base = { observedGeneration: 1, deploymentId: "d1", readyReplicas: 1, addresses: ["http://a:1"] };
  const now = definition(base);
  assert.equal(
    environmentOfDefinitionMayDiffer(now, definition({ ...base, readyReplicas: 2 })),
    false,
    "counts",
  );
  assert.equal(environmentOfDefinitionMayDiffer(now, definition({ ...base, deploymentId: "d2" })), true);
  assert.equal(environmentOfDefinitionMayDiffer(now, definition({ ...base, observedGeneration: 2 })), true);
  assert.equal(environmentOfDefinitionMayDiffer(now, definition(base, {}, 2)), true, "a new generation");
  assert.equal(
    environmentOfDefinitionMayDiffer(now, definition({ ...base, addresses: ["http://a:1", "http://b:1"] })),
    false,
    "addresses are its dependents' BERTH_DEP_* values, not its own Instances'",
  );
  assert.equal(
    environmentOfDefinitionMayDiffer(now, definition(base, { env: [{ name: "A", value: "1" }] })),
    true,
  );
});
