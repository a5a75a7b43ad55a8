/**
 * The registry follows a real Definition (controller and agent in-process, containers on
 * an extra engine) scaled 1 -> 3 -> 1: lookup follows, a blocking query parked before each
 * change returns with the new list, and the event stream delivers the changes in order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RegistryClient } from "../../controller/src/client/index.js";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import { httpGet, images, testNamespace, waitFor } from "../harness/index.js";
import { applyDefinition } from "../integration/controller-fixtures.js";
import {
  call,
  collectEvents,
  openWaits,
  runRegistry,
  type LookupBody,
  type StreamEvent,
} from "../integration/registry-api-fixtures.js";
import { containersOn, runAgentInProcess, runControllerInProcess, startEngines } from "./rollout-fixtures.js";

test(
  "a Definition scaled 1 -> 3 -> 1: blocking queries and the event stream follow every change",
  { timeout: 300_000 },
  async (t) => {
    const namespace = await testNamespace(t, "berth-reg-watch");
    const world = await startEngines(t, namespace, 1);
    await runControllerInProcess(world);
    await runAgentInProcess(world, world.nodes[0]!);
    const registry = await runRegistry(t, { allowAnonymousLoopback: true });
    const path = `/v1/namespaces/${namespace}/services/web`;
    const events: StreamEvent[] = [];

    const spec = { image: { name: images.echo, port: 8080 }, placement: { nodeSelector: world.labels } };
    await applyDefinition(namespace, "web", { ...spec, replicas: 1 });
    const first = await waitFor(
      "one ready instance",
      async () => {
        const answer = await call<LookupBody>(registry, "GET", path);
        return answer.status === 200 && answer.body.instances.length === 1 ? answer : undefined;
      },
      { timeoutMs: 120_000 },
    );
    await collectEvents(t, registry, `${path}/events`, events);
    await waitFor("the stream's first event", () => events.length > 0);
    assert.equal(events[0]?.data.instances.length, 1);

    /** Parks a blocking query at `index`, checks it is parked, then makes the change. */
    const parkThen = async (index: number, change: () => Promise<unknown>) => {
      const parked = call<LookupBody>(registry, "GET", `${path}?index=${index}&wait=60s`, {
        timeoutMs: 90_000,
      });
      await waitFor("the blocking query to be parked", async () => (await openWaits("blocking")) === 1);
      await change();
      return await parked;
    };
    /** Follows the service with blocking queries until `ready` instances are ready. */
    const followUntil = async (from: number, ready: number, first: Awaited<ReturnType<typeof parkThen>>) => {
      let answer = first;
      let index = from;
      for (;;) {
        assert.equal(answer.status, 200);
        const next = Number(answer.headers.get("x-berth-index"));
        assert.ok(next > index, `the index moves forward: ${index} -> ${next}`);
        index = next;
        if (answer.body.instances.length === ready) return answer;
        answer = await call<LookupBody>(registry, "GET", `${path}?index=${index}&wait=60s`, {
          timeoutMs: 90_000,
        });
      }
    };

    const index1 = first.body.index;
    const scaledUp = await parkThen(index1, () =>
      applyDefinition(namespace, "web", { ...spec, replicas: 3 }),
    );
    const three = await followUntil(index1, 3, scaledUp);
    for (const instance of three.body.instances) {
      assert.equal(instance.ready, true);
      assert.equal((await httpGet(`${instance.url}/`))?.status, 200, `${instance.url} answers`);
    }
    const index3 = three.body.index;
    const scaledDown = await parkThen(index3, () =>
      applyDefinition(namespace, "web", { ...spec, replicas: 1 }),
    );
    const one = await followUntil(index3, 1, scaledDown);
    assert.ok(
      three.body.instances.some((i) => i.name === one.body.instances[0]?.name),
      "the survivor was one of the three",
    );

    // The stream saw 1, then 3, then 1 ready instances, with strictly increasing ids.
    await waitFor(
      "the stream's last event shows one instance",
      () => events.at(-1)?.data.instances.length === 1,
    );
    const counts = events.map((e) => e.data.instances.length);
    const firstThree = counts.indexOf(3);
    assert.ok(firstThree > 0, `the stream showed three ready instances: ${counts.join(",")}`);
    assert.ok(counts.slice(firstThree).includes(1), `then one again: ${counts.join(",")}`);
    for (let i = 1; i < events.length; i++)
      assert.ok(events[i]!.id > events[i - 1]!.id, "event ids increase");
    assert.ok(events.every((e) => e.event === "instances"));
    // Once the removed instances are gone too, a parked query whose wait runs out answers
    // with the same list and index.
    const settled = await waitFor("only the survivor left, ready or not", async () => {
      const answer = await call<LookupBody>(registry, "GET", `${path}?include=all`);
      return answer.body.instances.length === 1 ? answer : undefined;
    });
    const quiet = await call<LookupBody>(
      registry,
      "GET",
      `${path}?include=all&index=${settled.body.index}&wait=1s`,
    );
    assert.equal(quiet.status, 200);
    assert.equal(Number(quiet.headers.get("x-berth-index")), settled.body.index);
    assert.deepEqual(quiet.body.instances, settled.body.instances);
  },
);

test(
  "the client balances over ready instances and stops picking one whose container was killed",
  { timeout: 300_000 },
  async (t) => {
    const namespace = await testNamespace(t, "berth-reg-pick");
    const world = await startEngines(t, namespace, 1);
    await runControllerInProcess(world);
    await runAgentInProcess(world, world.nodes[0]!);
    const registry = await runRegistry(t, { allowAnonymousLoopback: true });
    const client = new RegistryClient({ url: registry.url, namespace, balancer: { coolDownMs: 120_000 } });
    t.after(() => client.close());
    await applyDefinition(namespace, "web", {
      image: { name: images.echo, port: 8080 },
      replicas: 2,
      placement: { nodeSelector: world.labels },
    });
    const both = await waitFor(
      "two ready instances",
      async () => {
        const answer = await client.lookup("web");
        return answer.instances.length === 2 ? answer : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const urls = both.instances.map((i) => i.url!).sort();
    await waitFor("pick to use both instances", async () => {
      const picked = new Set([await client.pick("web"), await client.pick("web")]);
      return picked.size === 2;
    });

    // Kill one container, as a crash would.
    const victim = both.instances[0]!;
    const [container] = (await containersOn(world.nodes[0]!, namespace, "web")).filter(
      (c) => c.labels[LABELS.instance] === victim.name,
    );
    assert.ok(container, `the container of ${victim.name}`);
    await world.nodes[0]!.docker.removeContainer(container.id, { force: true });

    // Every idempotent request still succeeds: a refused connection is retried on the other.
    for (let i = 0; i < 4; i++) {
      const response = await client.fetch("web", "/");
      assert.equal(response.status, 200);
      await response.text();
    }
    const picked = new Set<string | undefined>();
    for (let i = 0; i < 6; i++) picked.add(await client.pick("web"));
    assert.ok(!picked.has(victim.url!), `pick no longer returns ${victim.url}: ${[...picked].join(",")}`);
    // The agent replaces the container (a new port): the survivor is picked meanwhile.
    assert.ok(picked.has(urls.find((u) => u !== victim.url)), "the surviving instance is picked");
  },
);
