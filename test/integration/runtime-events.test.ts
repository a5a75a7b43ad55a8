import { test } from "node:test";
import assert from "node:assert/strict";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { EVENTS, type KubeObject } from "../../controller/src/kube/resources.js";
import { KubeEventRecorder } from "../../controller/src/runtime/events.js";
import { FakeClock } from "../../controller/src/testing/fake-clock.js";
import { env, testNamespace } from "../harness/index.js";

function instance(namespace: string, i: number): KubeObject {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace, name: `web-${i}`, uid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}` },
  };
}

test("a burst of Events for distinct objects all arrive, a few writes at a time", async (t) => {
  const client = newKubeClient(env().kc);
  const namespace = await testNamespace(t);
  const burst = 300;
  const recorder = new KubeEventRecorder({ client, component: "berth.dev/test", instance: "test" });
  let mostInFlight = 0;
  for (let i = 0; i < burst; i++) recorder.event(instance(namespace, i), "Normal", "Started", "started");
  const sampling = setInterval(() => {
    mostInFlight = Math.max(mostInFlight, recorder.pendingWrites().inFlight);
  }, 1);
  await recorder.flush();
  clearInterval(sampling);
  const { items } = await client.list(EVENTS, { namespace });
  assert.equal(items.length, burst);
  assert.deepEqual(
    new Set(items.map((e) => e.regarding?.name)),
    new Set(Array.from({ length: burst }, (_, i) => `web-${i}`)),
  );
  assert.ok(mostInFlight <= 8, `at most the default 8 writes in flight, saw ${mostInFlight}`);
});

test("a repeated Event is one object whose series counts the repeats", async (t) => {
  const client = newKubeClient(env().kc);
  const namespace = await testNamespace(t);
  const clock = new FakeClock(Date.parse("2026-03-01T12:00:00Z"));
  const recorder = new KubeEventRecorder({ client, component: "berth.dev/test", instance: "test", clock });
  const crashing = instance(namespace, 0);
  // Repeats before the create goes out are in the create itself.
  for (let i = 0; i < 3; i++) recorder.event(crashing, "Warning", "BackOff", "restarting");
  await recorder.flush();
  let { items } = await client.list(EVENTS, { namespace });
  assert.equal(items.length, 1);
  assert.equal(items[0]?.series?.count, 3);

  // A repeat after the update interval patches the count; another within it is counted in.
  clock.advance(30_000);
  recorder.event(crashing, "Warning", "BackOff", "restarting");
  recorder.event(crashing, "Warning", "BackOff", "restarting");
  await recorder.flush();
  ({ items } = await client.list(EVENTS, { namespace }));
  assert.equal(items.length, 1, "still one Event object");
  assert.deepEqual(items[0]?.series, { count: 5, lastObservedTime: "2026-03-01T12:00:30.000000Z" });
  assert.equal(items[0]?.eventTime, "2026-03-01T12:00:00.000000Z", "the first occurrence stays");
});
