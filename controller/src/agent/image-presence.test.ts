import assert from "node:assert/strict";
import { test } from "node:test";
import { ImageNotFoundError } from "../docker/errors.js";
import type { ImageEvent, EventStreamOptions, StreamRestartedEvent } from "../docker/events.js";
import { FakeClock } from "../testing/fake-clock.js";
import { FakeDocker } from "../testing/fake-docker.js";
import { nullLogger } from "../runtime/log.js";
import { ImagePresence, imagePresenceEvents } from "./image-presence.js";

/** An engine whose inspects are counted, and whose image event stream the test drives. */
class CountingDocker extends FakeDocker {
  inspects = 0;
  private emitImage: ((event: ImageEvent) => void) | undefined;
  private breakStream: (() => void) | undefined;

  override async inspectImage(image: string) {
    this.inspects++;
    return await super.inspectImage(image);
  }

  override async *imageEvents(
    options: EventStreamOptions,
  ): AsyncGenerator<ImageEvent | StreamRestartedEvent> {
    const pending: ImageEvent[] = [];
    let wake: () => void = () => undefined;
    let broken = false;
    this.emitImage = (event) => {
      pending.push(event);
      wake();
    };
    this.breakStream = () => {
      broken = true;
      wake();
    };
    options.onConnected?.();
    while (!options.signal.aborted) {
      const event = pending.shift();
      if (event) {
        yield event;
        continue;
      }
      if (broken) throw new Error("the stream broke");
      await new Promise<void>((resolve) => {
        wake = resolve;
        options.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  imageEvent(action: string, image: string): void {
    this.emitImage?.({ type: "image", action, image, time: 0 });
  }

  break(): void {
    this.breakStream?.();
  }
}

const signal = new AbortController().signal;
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test("without its event stream the record is not trusted: the engine is asked every time", async () => {
  const docker = new CountingDocker();
  const presence = new ImagePresence();
  assert.ok(await presence.find(docker, "app:1", signal));
  assert.ok(await presence.find(docker, "app:1", signal));
  assert.equal(docker.inspects, 2);
});

test("while the stream is open, an image is asked about once; any image event or a break makes it asked again", async () => {
  const docker = new CountingDocker();
  const presence = new ImagePresence();
  const clock = new FakeClock();
  const events = imagePresenceEvents({ docker, presence, clock, logger: nullLogger });
  await events.start();
  await settle();
  try {
    for (let i = 0; i < 5; i++) assert.ok(await presence.find(docker, "app:1", signal));
    assert.equal(docker.inspects, 1, "a burst of Instances of one image asks the engine once");

    // Someone removes the image (docker rmi): the next find asks, and finds nothing.
    docker.images.delete("app:1");
    docker.imageEvent("untag", "sha256:aaa");
    docker.imageEvent("delete", "sha256:aaa");
    await settle();
    assert.equal(
      await presence.find(docker, "app:1", signal),
      undefined,
      "a removed image is not taken as there",
    );
    assert.equal(docker.inspects, 2);

    docker.images.add("app:1");
    docker.imageEvent("pull", "app:1");
    await settle();
    assert.ok(await presence.find(docker, "app:1", signal));
    assert.ok(await presence.find(docker, "app:1", signal));
    assert.equal(docker.inspects, 3);

    // A broken stream may miss events: the record goes until the stream is open again.
    docker.break();
    await settle();
    assert.ok(await presence.find(docker, "app:1", signal));
    assert.equal(docker.inspects, 4);
  } finally {
    await events.stop();
  }
});

test("an answer asked for before a change is not kept", async () => {
  const presence = new ImagePresence();
  presence.streaming(true);
  let release: () => void = () => undefined;
  let inspects = 0;
  const slow = {
    inspectImage: async (image: string) => {
      inspects++;
      if (inspects === 1) await new Promise<void>((resolve) => (release = resolve));
      return { id: "sha256:old", repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
    },
  };
  const asked = presence.find(slow, "app:1", signal);
  presence.changed(); // the tag moved while the engine was answering
  release();
  assert.equal((await asked)?.id, "sha256:old");
  await presence.find(slow, "app:1", signal);
  assert.equal(inspects, 2, "the answer from before the change was not remembered");
});

test("a forgotten image is asked about again; an image the engine does not have is never remembered", async () => {
  const presence = new ImagePresence();
  presence.streaming(true);
  let inspects = 0;
  const engine = {
    inspectImage: async (image: string) => {
      inspects++;
      if (image === "gone:1") throw new ImageNotFoundError("inspect_image", image, "No such image");
      return { id: "sha256:a", repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
    },
  };
  await presence.find(engine, "app:1", signal);
  presence.forget("app:1");
  await presence.find(engine, "app:1", signal);
  assert.equal(inspects, 2);
  assert.equal(await presence.find(engine, "gone:1", signal), undefined);
  assert.equal(await presence.find(engine, "gone:1", signal), undefined);
  assert.equal(inspects, 4);
});

test("Instances that ask at the same moment share one inspect; one that gives up does not end it for the rest", async () => {
  const presence = new ImagePresence();
  let inspects = 0;
  let release: () => void = () => undefined;
  const engine = {
    inspectImage: async (image: string) => {
      inspects++;
      await new Promise<void>((resolve) => (release = resolve));
      return { id: "sha256:a", repoTags: [image], labels: {}, exposedPorts: [], createdAt: "" };
    },
  };
  const cancelled = new AbortController();
  const first = presence.find(engine, "app:1", cancelled.signal);
  const others = Array.from({ length: 19 }, () => presence.find(engine, "app:1", signal));
  cancelled.abort(new Error("the Instance was deleted"));
  await assert.rejects(first, /deleted/);
  release();
  for (const answer of await Promise.all(others)) assert.equal(answer?.id, "sha256:a");
  assert.equal(inspects, 1, "twenty Instances of one image, one inspect");
});
