import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { nullLogger } from "../runtime/log.js";
import {
  type EngineEvent,
  streamEngineEvents,
  streamEvents,
  toContainerEvent,
  toImageEvent,
} from "./events.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";

const dieMessage = {
  Type: "container",
  Action: "die",
  Actor: { ID: "c1", Attributes: { exitCode: "3", image: "x", name: "web", "berth.dev/instance": "web-0" } },
  time: 1700000000,
};

test("toContainerEvent keeps Berth's labels and the exit code of a die", () => {
  assert.deepEqual(toContainerEvent(dieMessage), {
    type: "container",
    action: "die",
    containerId: "c1",
    labels: { "berth.dev/instance": "web-0" },
    exitCode: 3,
    time: 1700000000,
  });
  assert.equal(toContainerEvent({ Type: "network", Action: "connect", Actor: { ID: "n" } }), undefined);
  assert.equal(
    toContainerEvent({ Type: "container", Action: "exec_start: sh", Actor: { ID: "c" } }),
    undefined,
  );
  assert.equal(toContainerEvent({ Type: "container", Action: "start" }), undefined);
  const start = toContainerEvent({
    Type: "container",
    Action: "start",
    Actor: { ID: "c2", Attributes: {} },
    time: 5,
  });
  assert.equal(start?.exitCode, undefined);
});

test("streamEngineEvents reconnects from the last event's time and announces the restart", async () => {
  const controller = new AbortController();
  const sinceSeen: Array<number | undefined> = [];
  let connects = 0;
  const source = {
    engineUrl: "unix:///fake.sock",
    logger: nullLogger,
    connect: async (since: number | undefined) => {
      sinceSeen.push(since);
      connects++;
      if (connects === 2) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      const start = { ...dieMessage, Action: "start", time: 1700000000 + connects };
      return Readable.from([Buffer.from(`${JSON.stringify(start)}\n`)]);
    },
  };
  const clock = new FakeClock();
  const seen: EngineEvent[] = [];
  const reading = (async () => {
    for await (const event of streamEngineEvents(source, {
      signal: controller.signal,
      since: 1699999999,
      minReconnectDelayMs: 1000,
      maxReconnectDelayMs: 2000,
      clock,
    })) {
      seen.push(event);
      if (seen.length === 3) controller.abort();
    }
  })();
  // The stream ends, then the reconnect fails: each waits its delay on the clock, doubling.
  await flushPromises();
  assert.equal(connects, 1);
  await clock.advanceAsync(999);
  assert.equal(connects, 1, "no reconnect before the delay");
  await clock.advanceAsync(1);
  assert.equal(connects, 2);
  await clock.advanceAsync(1999);
  assert.equal(connects, 2, "the second delay is twice the first");
  await clock.advanceAsync(1);
  await reading;
  assert.deepEqual(
    seen.map((event) => (event.type === "container" ? `${event.action}@${event.time}` : event.type)),
    ["start@1700000001", "stream-restarted", "start@1700000003"],
  );
  const restarted = seen[1];
  assert.ok(restarted?.type === "stream-restarted");
  assert.equal(restarted.error.reason, "EngineUnreachable");
  assert.deepEqual(sinceSeen, [1699999999, 1700000001, 1700000001]);
});

test("streamEngineEvents ends when the consumer stops reading", async () => {
  let destroyed = false;
  const stream = new Readable({ read() {} });
  stream.push(`${JSON.stringify(dieMessage)}\n`);
  stream.on("close", () => (destroyed = true));
  const source = { engineUrl: "unix:///fake.sock", logger: nullLogger, connect: async () => stream };
  for await (const event of streamEngineEvents(source, { signal: new AbortController().signal })) {
    assert.equal(event.type, "container");
    break;
  }
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(destroyed, true);
});

test("image events are read, and the stream says when it is open and when it broke", async () => {
  assert.deepEqual(toImageEvent({ Type: "image", Action: "delete", Actor: { ID: "sha256:a" }, time: 5 }), {
    type: "image",
    action: "delete",
    image: "sha256:a",
    time: 5,
  });
  assert.equal(toImageEvent(dieMessage), undefined);
  const controller = new AbortController();
  const said: string[] = [];
  let connects = 0;
  const source = {
    engineUrl: "unix:///fake.sock",
    logger: nullLogger,
    connect: async () => {
      connects++;
      const untag = {
        Type: "image",
        Action: "untag",
        Actor: { ID: "sha256:a" },
        time: 1700000000 + connects,
      };
      return Readable.from([Buffer.from(`${JSON.stringify(untag)}\n`)]);
    },
  };
  for await (const event of streamEvents(
    source,
    {
      signal: controller.signal,
      minReconnectDelayMs: 1,
      onConnected: () => said.push("connected"),
      onBroken: () => said.push("broken"),
    },
    toImageEvent,
  )) {
    said.push(event.type === "image" ? event.action : event.type);
    if (connects === 2 && event.type === "image") controller.abort();
  }
  assert.deepEqual(said, ["connected", "untag", "broken", "connected", "stream-restarted", "untag"]);
});
