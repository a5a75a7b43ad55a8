import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instance } from "../api/types.js";
import { PortInUseError } from "../docker/errors.js";
import type { ReconcileContext } from "../runtime/controller.js";
import { nullLogger } from "../runtime/log.js";
import { Slots } from "../runtime/slots.js";
import { FakeClock } from "../testing/fake-clock.js";
import { FakeDocker } from "../testing/fake-docker.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { RecordingEventRecorder } from "../testing/recording-events.js";
import { ContainerLauncher } from "./container-launch.js";
import { ImagePreparations } from "./image-preparation.js";
import { InstanceImages } from "./images.js";
import { InstanceStatusWriter } from "./instance-status-writer.js";
import { RetryBackoff } from "./retry-backoff.js";
import { StartCheck } from "./start-check.js";

const NODE = { nodeName: "node-a", installation: "inst-a", address: "10.0.0.5", bindAddress: "10.0.0.5" };

function instance(name: string): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "ns", name, uid: name, resourceVersion: "1" },
    spec: {
      definition: "web",
      deploymentId: "d1",
      nodeName: NODE.nodeName,
      template: { image: { name: "app:1", port: 8080 } },
    },
  };
}

/** An engine whose starts wait until the test lets each one through. */
class GatedDocker extends FakeDocker {
  readonly gates: Array<() => void> = [];
  override async startContainer(id: string): Promise<void> {
    await new Promise<void>((resolve) => this.gates.push(resolve));
    await super.startContainer(id);
  }
}

function setup(docker: FakeDocker, slots: Slots) {
  const clock = new FakeClock();
  const events = new RecordingEventRecorder();
  const launcher = new ContainerLauncher({
    node: NODE,
    docker,
    environments: { get: () => undefined },
    privilegedPortsAllowed: () => Promise.resolve(false),
    stopGraceSeconds: 5,
    images: new InstanceImages({
      docker,
      events,
      nodeName: NODE.nodeName,
      buildSourceImage: () => Promise.reject(new Error("no builds here")),
    }),
    preparations: new ImagePreparations({ limit: 2, onSettled: () => undefined }),
    retries: new RetryBackoff(),
    startCheck: new StartCheck({ docker, events, clock, nodeName: NODE.nodeName }),
    status: new InstanceStatusWriter({
      client: new FakeKubeClient(),
      events,
      clock,
      nodeName: NODE.nodeName,
    }),
    startSlots: slots,
  });
  const launch = (name: string, signal = new AbortController().signal) => {
    const context: ReconcileContext = { log: nullLogger, reconcileID: name, signal, clock };
    return launcher.launch(`ns/${name}`, instance(name), 0, context);
  };
  return { launch };
}

/** Lets every settled promise's callbacks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

test("creates and starts beyond the start slots wait, and go in the order they came", async () => {
  const docker = new GatedDocker(NODE.bindAddress);
  const slots = new Slots(2, "container start");
  const { launch } = setup(docker, slots);
  const launches = ["a", "b", "c", "d"].map((name) => launch(name));
  await settle();
  assert.deepEqual(docker.calls, ["create c1", "create c2"], "two in flight, the others wait before create");
  assert.deepEqual(slots.load, { running: 2, waiting: 2, limit: 2 });
  docker.gates.shift()!();
  await settle();
  assert.deepEqual(docker.calls.slice(2), ["start c1", "create c3"], "a finished start lets the next one in");
  while (docker.gates.length > 0 || slots.load.running > 0) {
    docker.gates.shift()?.();
    await settle();
  }
  const results = await Promise.all(launches);
  assert.ok(results.every((result) => "running" in result));
  assert.deepEqual(
    docker.calls.filter((call) => call.startsWith("create")),
    ["create c1", "create c2", "create c3", "create c4"],
  );
  assert.deepEqual(slots.load, { running: 0, waiting: 0, limit: 2 });
});

test("a start that fails gives its slot back, and the container it made is removed", async () => {
  const docker = new FakeDocker(NODE.bindAddress);
  docker.startError = new PortInUseError("start_container", 8080, "port is already allocated");
  const slots = new Slots(1, "container start");
  const { launch } = setup(docker, slots);
  await assert.rejects(launch("a"), PortInUseError);
  assert.deepEqual(slots.load, { running: 0, waiting: 0, limit: 1 });
  assert.deepEqual(docker.calls, ["create c1", "start c1", "remove c1"]);
  docker.startError = undefined;
  assert.ok("running" in (await launch("b")), "the next launch gets the slot");
});

test("a launch whose pass is cancelled while it waits for a slot makes no container", async () => {
  const docker = new GatedDocker(NODE.bindAddress);
  const slots = new Slots(1, "container start");
  const { launch } = setup(docker, slots);
  const first = launch("a");
  await settle();
  const shutdown = new AbortController();
  const waiting = launch("b", shutdown.signal);
  await settle();
  shutdown.abort(new Error("agent stopping"));
  await assert.rejects(waiting, /agent stopping/);
  docker.gates.shift()!();
  await first;
  assert.deepEqual(docker.calls, ["create c1", "start c1"], "the cancelled launch created nothing");
  assert.deepEqual(slots.load, { running: 0, waiting: 0, limit: 1 });
});
