import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeObject } from "../kube/resources.js";
import { CONFIGMAPS } from "../kube/resources.js";
import { KubeApiError } from "../kube/errors.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";
import type { ReconcileContext, Request, Result } from "./controller.js";
import { Controller, TerminalError } from "./controller.js";
import { Informer } from "./informer.js";
import { MemoryLogger } from "./log.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { reconcileTotal, registry } from "./metrics.js";

async function setup(
  name: string,
  reconcile: (req: Request, ctx: ReconcileContext) => Promise<Result | void>,
  items: KubeObject[] = [],
) {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({ items, resourceVersion: "1" });
  const informer = new Informer(client, CONFIGMAPS, { clock });
  const logger = new MemoryLogger();
  const controller = new Controller({ name, clock, logger, workers: 2, reconciler: { reconcile } });
  controller.for(informer);
  const abort = new AbortController();
  informer.start();
  const running = controller.start(abort.signal);
  await informer.waitForSync();
  await flushPromises();
  const stop = async () => {
    abort.abort();
    await running;
    await informer.stop();
  };
  return { clock, client, informer, controller, logger, stop };
}

const cm = (name: string): KubeObject => ({ metadata: { namespace: "ns", name, resourceVersion: "1" } });

test("workers start after sync and reconcile every cached key with a reconcileID in the log", async () => {
  const seen: string[] = [];
  const ids = new Set<string>();
  const { stop, logger } = await setup(
    "unit-sync",
    async (req, ctx) => {
      seen.push(req.key);
      ids.add(ctx.reconcileID);
      ctx.log.info("reconciled", {});
    },
    [cm("a"), cm("b")],
  );
  await flushPromises();
  assert.deepEqual(seen.sort(), ["ns/a", "ns/b"]);
  assert.equal(ids.size, 2);
  const line = logger.lines.find((l) => l.message === "reconciled");
  assert.equal(line?.fields.controller, "unit-sync");
  assert.equal(line?.fields.namespace, "ns");
  assert.ok(line?.fields.reconcileID);
  await stop();
});

test("one key is never reconciled twice at once; adds during a reconcile run it once more after", async () => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  let release: () => void = () => undefined;
  const { controller, stop } = await setup("unit-exclusive", async () => {
    calls++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (calls === 1) await new Promise<void>((resolve) => (release = resolve));
    running--;
  });
  controller.enqueue("ns/x");
  await flushPromises();
  controller.enqueue("ns/x");
  controller.enqueue("ns/x");
  await flushPromises();
  assert.equal(calls, 1);
  release();
  await flushPromises();
  assert.equal(calls, 2);
  assert.equal(maxRunning, 1);
  await stop();
});

test("errors retry with growing backoff; terminal errors and successes do not retry", async () => {
  const attempts = new Map<string, number>();
  const { controller, clock, stop, logger } = await setup("unit-errors", async (req) => {
    attempts.set(req.key, (attempts.get(req.key) ?? 0) + 1);
    if (req.name === "fails") throw new Error("boom");
    if (req.name === "terminal") throw new TerminalError("invalid spec");
  });
  controller.enqueue("ns/fails");
  controller.enqueue("ns/terminal");
  await flushPromises();
  await clock.advanceAsync(5 + 10 + 20, 1);
  assert.equal(attempts.get("ns/fails"), 4);
  assert.equal(attempts.get("ns/terminal"), 1);
  assert.ok(logger.lines.some((l) => l.message === "reconcile failed terminally, not retrying"));
  await stop();
});

test("conflicts are requeued without counting as errors", async () => {
  let calls = 0;
  const { controller, clock, stop, logger } = await setup("unit-conflict", async () => {
    calls++;
    if (calls === 1)
      throw new KubeApiError(409, "the object has been modified", { reason: "Conflict", code: 409 });
  });
  controller.enqueue("ns/c");
  await flushPromises();
  await clock.advanceAsync(10, 1);
  assert.equal(calls, 2);
  assert.equal(logger.lines.filter((l) => l.level === "error").length, 0);
  const errors = (await reconcileTotal.get()).values.find(
    (v) => v.labels.controller === "unit-conflict" && v.labels.result === "error",
  );
  assert.equal(errors?.value, 0);
  await stop();
});

test("a 404 for an object its cache no longer holds ends the key quietly; for one it still holds, it retries", async () => {
  const attempts = new Map<string, number>();
  const notFound = () => new KubeApiError(404, "not found", { reason: "NotFound", code: 404 });
  const { controller, clock, stop, logger } = await setup(
    "unit-gone",
    async (req) => {
      attempts.set(req.key, (attempts.get(req.key) ?? 0) + 1);
      throw notFound();
    },
    [cm("cached")],
  );
  controller.enqueue("ns/gone");
  await flushPromises();
  await clock.advanceAsync(5 + 10 + 20, 1);
  assert.equal(attempts.get("ns/gone"), 1);
  assert.ok((attempts.get("ns/cached") ?? 0) >= 3, "a 404 about something else is an error, retried");
  assert.ok(
    logger.lines.some((l) => l.level === "error" && l.fields.name === "cached"),
    "and logged as one",
  );
  assert.ok(!logger.lines.some((l) => l.level === "error" && l.fields.name === "gone"));
  await stop();
});

test("a 404 naming the object its cache still holds is retried quietly until the delete event comes", async () => {
  let attempts = 0;
  const { clock, stop, logger } = await setup(
    "unit-gone-ahead",
    async () => {
      attempts++;
      throw new KubeApiError(404, 'configmaps "cached" not found', {
        reason: "NotFound",
        code: 404,
        details: { name: "cached", kind: "configmaps" },
      });
    },
    [cm("cached")],
  );
  await flushPromises();
  await clock.advanceAsync(5 + 10 + 20, 1);
  assert.ok(attempts >= 3, "still retried while the cache holds it");
  assert.ok(!logger.lines.some((l) => l.level === "error"), "and no error is logged for it");
  const errors = (await reconcileTotal.get()).values.find(
    (v) => v.labels.controller === "unit-gone-ahead" && v.labels.result === "error",
  );
  assert.equal(errors?.value ?? 0, 0);
  await stop();
});

test("requeueAfterMs reconciles again after that time", async () => {
  let calls = 0;
  const { controller, clock, stop } = await setup("unit-after", async () => {
    calls++;
    return { requeueAfterMs: 60_000 };
  });
  controller.enqueue("ns/t");
  await flushPromises();
  assert.equal(calls, 1);
  await clock.advanceAsync(59_000);
  assert.equal(calls, 1);
  await clock.advanceAsync(1_000);
  assert.equal(calls, 2);
  await stop();
});

test("metrics are pre-set to zero for each controller", async () => {
  const { stop } = await setup("unit-metrics", async () => undefined);
  const text = await registry.metrics();
  assert.match(text, /controller_runtime_reconcile_total\{controller="unit-metrics",result="error"\} 0/);
  assert.match(text, /workqueue_depth\{controller="unit-metrics",name="unit-metrics"\} 0/);
  await stop();
});

test("reconcilesFrom enqueues the mapped keys of every cached object again when the controller restarts", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({
    items: [
      { metadata: { namespace: "ns", name: "a", labels: { slug: "orders" }, resourceVersion: "1" } },
      { metadata: { namespace: "ns", name: "b", labels: { slug: "orders" }, resourceVersion: "1" } },
    ],
    resourceVersion: "1",
  });
  const informer = new Informer(client, CONFIGMAPS, { clock });
  const seen: string[] = [];
  const controller = new Controller({
    name: "unit-reconciles-from",
    clock,
    logger: new MemoryLogger(),
    reconciler: { reconcile: async (req) => void seen.push(req.key) },
  });
  controller.reconcilesFrom(informer, (obj) => [`ns/${obj.metadata?.labels?.slug ?? ""}`]);
  informer.start();
  await informer.waitForSync();
  const first = new AbortController();
  const running = controller.start(first.signal);
  await flushPromises();
  assert.deepEqual(seen, ["ns/orders"], "one key for both objects");
  first.abort();
  await running;
  // A new term (leadership regained): the same key is looked at again though nothing changed.
  const second = new AbortController();
  const again = controller.start(second.signal);
  await flushPromises();
  assert.deepEqual(seen, ["ns/orders", "ns/orders"]);
  second.abort();
  await again;
  await informer.stop();
});

test("watches with ignoreAdds maps changes and deletions, never an object appearing", async () => {
  const clock = new FakeClock();
  const client = new FakeKubeClient();
  client.listResults.push({ items: [cm("listed")], resourceVersion: "1" });
  const informer = new Informer(client, CONFIGMAPS, { clock });
  const seen: string[] = [];
  const controller = new Controller({
    name: "unit-ignore-adds",
    clock,
    logger: new MemoryLogger(),
    reconciler: { reconcile: async (req) => void seen.push(req.key) },
  });
  controller.watches(informer, (obj) => [`ns/of-${obj.metadata?.name ?? ""}`], undefined, {
    ignoreAdds: true,
  });
  informer.start();
  await informer.waitForSync();
  const abort = new AbortController();
  const running = controller.start(abort.signal);
  await flushPromises();
  const watch = client.watches.at(-1)!;
  watch.emit({ type: "ADDED", object: { metadata: { namespace: "ns", name: "new", resourceVersion: "2" } } });
  await flushPromises();
  assert.deepEqual(seen, [], "neither the listed object nor a new one is mapped");
  watch.emit({
    type: "MODIFIED",
    object: { metadata: { namespace: "ns", name: "new", resourceVersion: "3" } },
  });
  await flushPromises();
  watch.emit({
    type: "DELETED",
    object: { metadata: { namespace: "ns", name: "listed", resourceVersion: "4" } },
  });
  await flushPromises();
  // An update maps the old and the new object; a key both map to is reconciled once.
  assert.deepEqual(seen, ["ns/of-new", "ns/of-listed"]);
  abort.abort();
  await running;
  await informer.stop();
});

test("an update of a reconciled object runs one pass, though its old and new versions both map to it", async () => {
  const seen: string[] = [];
  const { client, stop } = await setup("unit-update-once", async (req) => void seen.push(req.key), [cm("a")]);
  await flushPromises();
  assert.deepEqual(seen, ["ns/a"]);
  client.watches.at(-1)!.emit({
    type: "MODIFIED",
    object: {
      metadata: { namespace: "ns", name: "a", resourceVersion: "2" },
      data: { k: "v" },
    } as KubeObject,
  });
  await flushPromises();
  assert.deepEqual(seen, ["ns/a", "ns/a"], "one pass for the change");
  await stop();
});
