import { test } from "node:test";
import assert from "node:assert/strict";
import { API_VERSION, type Instance } from "../api/types.js";
import { FakeClock } from "../testing/fake-clock.js";
import type { Informer } from "../runtime/informer.js";
import { nullLogger } from "../runtime/log.js";
import { ListInformer } from "../testing/fake-informer.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { ExternalInstances } from "./external.js";

function external(renewTime: string, ready: boolean): Instance {
  return {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: {
      name: "legacy-ext-1",
      namespace: "team",
      uid: "u1",
      resourceVersion: "7",
      creationTimestamp: renewTime,
    },
    spec: { definition: "legacy", external: { url: "http://192.0.2.1:80", ttlSeconds: 3 } },
    status: { ready, renewTime },
  };
}

/** The cache the code reads: one object, and nothing else an informer does. */
function cacheOf(instance: Instance | undefined): Informer<Instance> {
  return new ListInformer(instance ? [instance] : []).asInformer();
}

const statusWrites = (client: FakeKubeClient) => client.calls.filter((c) => c.verb === "patchStatus");

test("registration writes the first status without a precondition the expiry loop could break", async () => {
  const client = new FakeKubeClient();
  const external = new ExternalInstances({
    client,
    instances: cacheOf(undefined),
    clock: new FakeClock(),
    logger: nullLogger,
  });
  await external.register("team", "legacy", { url: "http://192.0.2.1:80", ttlSeconds: 3 }, "alice");
  const [write] = statusWrites(client);
  assert.ok(write, "the first status is written");
  assert.deepEqual(Object.keys(write.body as object), ["status"], "no metadata.resourceVersion precondition");
  assert.equal((write.body as { status: { ready: boolean } }).status.ready, true);
});

test("a heartbeat is written only when the recorded one is about to expire, or the instance is not ready", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const client = new FakeKubeClient();
  const ready = external(new Date(clock.now()).toISOString(), true);
  const external1 = new ExternalInstances({ client, instances: cacheOf(ready), clock, logger: nullLogger });
  clock.advance(1000);
  await external1.heartbeat("team", "legacy", "legacy-ext-1");
  clock.advance(1000);
  await external1.heartbeat("team", "legacy", "legacy-ext-1");
  assert.equal(statusWrites(client).length, 0, "beats well inside the TTL stay in memory");
  clock.advance(300); // 2.3 s after the recorded beat: inside the 0.75 s margin of a 3 s TTL
  await external1.heartbeat("team", "legacy", "legacy-ext-1");
  assert.equal(statusWrites(client).length, 1);

  const expiredClient = new FakeKubeClient();
  const expired = external(new Date(clock.now() - 10_000).toISOString(), false);
  const external2 = new ExternalInstances({
    client: expiredClient,
    instances: cacheOf(expired),
    clock,
    logger: nullLogger,
  });
  await external2.heartbeat("team", "legacy", "legacy-ext-1");
  const [revive] = statusWrites(expiredClient);
  assert.equal((revive?.body as { status: { ready: boolean; renewTime: string } }).status.ready, true);
  assert.equal(
    (revive?.body as { status: { renewTime: string } }).status.renewTime,
    new Date(clock.now()).toISOString(),
  );
});

test("heartbeats and deregistration refuse a Berth-run Instance", async () => {
  const berthRun: Instance = {
    apiVersion: API_VERSION,
    kind: "Instance",
    metadata: { name: "legacy-0123456789-0", namespace: "team" },
    spec: {
      definition: "legacy",
      deploymentId: "0123456789",
      template: { image: { name: "a:1", port: 80 } },
    },
  };
  const client = new FakeKubeClient();
  const external = new ExternalInstances({
    client,
    instances: cacheOf(berthRun),
    clock: new FakeClock(),
    logger: nullLogger,
  });
  await assert.rejects(external.heartbeat("team", "legacy", "legacy-0123456789-0"), /no external instance/);
  await assert.rejects(external.deregister("team", "legacy", "legacy-0123456789-0"), /no external instance/);
  assert.deepEqual(
    client.calls.filter((c) => c.verb !== "get"),
    [],
    "nothing written",
  );
});
