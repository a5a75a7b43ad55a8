import { test } from "node:test";
import assert from "node:assert/strict";
import type { RunTemplate } from "../../api/types.js";
import type { ObjectRef } from "../../kube/client.js";
import type { KubeObject, ResourceDescriptor, Secret } from "../../kube/resources.js";
import { CONFIGMAPS, SECRETS } from "../../kube/resources.js";
import { FakeClock, flushPromises } from "../../testing/fake-clock.js";
import { Informer } from "../../runtime/informer.js";
import { FakeKubeClient } from "../../testing/fake-kube-client.js";
import { contentHash } from "./deployment-id.js";
import type { DeploymentSalt } from "./deployment-salt.js";
import { ReferencedContentHashes, metadataOnly } from "./referenced-content.js";

const salt = Buffer.alloc(32, 7);
const fixedSalt = { get: async () => salt } as unknown as DeploymentSalt;

function secret(name: string, rv: string, value: string): Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      namespace: "ns",
      name,
      uid: `uid-${name}`,
      resourceVersion: rv,
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": `{"data":"${value}"}` },
    },
    type: "Opaque",
    data: { token: Buffer.from(value).toString("base64") },
  };
}

/** Answers get() from what the test put on the "server", counting reads. */
class ServerClient extends FakeKubeClient {
  readonly objects = new Map<string, KubeObject>();
  reads = 0;
  override async get<T extends KubeObject>(resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    this.reads++;
    const found = this.objects.get(`${resource.plural}/${ref.name}`);
    if (!found) throw Object.assign(new Error("not found"), { statusCode: 404 });
    return structuredClone(found) as T;
  }
}

const template: RunTemplate = {
  image: { name: "x", port: 80 },
  env: [{ name: "T", valueFrom: { secretKeyRef: { name: "token", key: "token" } } }],
};

test("metadataOnly keeps identity, resourceVersion and type, never data or annotations", () => {
  const kept = metadataOnly(secret("token", "5", "hunter2"));
  assert.deepEqual(kept, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "token", namespace: "ns", uid: "uid-token", resourceVersion: "5" },
    type: "Opaque",
  });
});

test("a referenced Secret is read once per resourceVersion and its hash dropped when it changes or goes", async () => {
  const client = new ServerClient();
  client.objects.set("secrets/token", secret("token", "5", "hunter2"));
  client.listResults.push({
    items: [secret("token", "5", "hunter2"), secret("other", "6", "x")],
    resourceVersion: "6",
  });
  client.listResults.push({ items: [], resourceVersion: "6" });
  const clock = new FakeClock();
  const secrets = new Informer(client, SECRETS, { clock, transform: metadataOnly });
  const configMaps = new Informer(client, CONFIGMAPS, { clock, transform: metadataOnly });
  secrets.start();
  configMaps.start();
  await secrets.waitForSync();
  await configMaps.waitForSync();
  await flushPromises();
  assert.equal(secrets.get("ns", "token")?.data, undefined, "the cache holds no data");
  const hashes = new ReferencedContentHashes(client, fixedSalt, { secrets, configMaps });

  const first = await hashes.of("ns", template);
  assert.equal(first.get("Secret/token"), contentHash(salt, ["data", secret("token", "5", "hunter2").data]));
  await hashes.of("ns", template);
  assert.equal(client.reads, 1, "an unchanged Secret is not read again");
  assert.equal(hashes.size(), 1, "only the referenced Secret is hashed");

  client.objects.set("secrets/token", secret("token", "9", "changed"));
  client.watches[0]!.emit({ type: "MODIFIED", object: secret("token", "9", "changed") });
  assert.equal(hashes.size(), 0, "a changed Secret takes its hash with it");
  const second = await hashes.of("ns", template);
  assert.notEqual(second.get("Secret/token"), first.get("Secret/token"));
  assert.equal(client.reads, 2);

  client.objects.delete("secrets/token");
  client.watches[0]!.emit({ type: "DELETED", object: secret("token", "10", "changed") });
  assert.equal(hashes.size(), 0);
  assert.equal((await hashes.of("ns", template)).get("Secret/token"), null);
  assert.equal(client.reads, 2, "a Secret the cache does not have is not read");
  await secrets.stop();
  await configMaps.stop();
});
