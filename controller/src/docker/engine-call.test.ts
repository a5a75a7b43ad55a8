import { test } from "node:test";
import assert from "node:assert/strict";
import type { DockerErrorReason, DockerOperation } from "./errors.js";
import { DockerTimeoutError, EngineUnreachableError, ImageNotFoundError } from "./errors.js";
import type { DockerObserver } from "./metrics.js";
import { runEngineCall } from "./engine-call.js";
import { FakeClock, flushPromises } from "../testing/fake-clock.js";

const engineUrl = "unix:///var/run/docker.sock";

function recordingObserver(): DockerObserver & { calls: [DockerOperation, DockerErrorReason | undefined][] } {
  const calls: [DockerOperation, DockerErrorReason | undefined][] = [];
  return { calls, operationFinished: (operation, _seconds, reason) => calls.push([operation, reason]) };
}

test("a call that answers resolves with its result and is reported without an error", async () => {
  const observer = recordingObserver();
  const result = await runEngineCall(
    { operation: "ping", context: {}, engineUrl, timeoutMs: 10_000, call: undefined, observer },
    async () => "OK",
  );
  assert.equal(result, "OK");
  assert.deepEqual(observer.calls, [["ping", undefined]]);
});

test("a call that never answers fails at its deadline with DockerTimeout and its signal aborted", async () => {
  const observer = recordingObserver();
  const clock = new FakeClock();
  let seen: AbortSignal | undefined;
  const outcome = runEngineCall(
    {
      operation: "inspect_container",
      context: {},
      engineUrl,
      timeoutMs: 20_000,
      call: undefined,
      observer,
      clock,
    },
    (signal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    },
  );
  clock.advance(19_999);
  await flushPromises();
  assert.equal(seen?.aborted, false, "not given up before the deadline");
  assert.deepEqual(observer.calls, []);
  clock.advance(1);
  await assert.rejects(
    outcome,
    (err: unknown) => err instanceof DockerTimeoutError && err.message.includes("20000 ms"),
  );
  assert.equal(seen?.aborted, true);
  assert.deepEqual(observer.calls, [["inspect_container", "DockerTimeout"]]);
});

test("an engine error is classified with what the call was about", async () => {
  const observer = recordingObserver();
  const notFound = Object.assign(new Error("(HTTP code 404) no such image - No such image: app:1"), {
    statusCode: 404,
    json: { message: "No such image: app:1" },
  });
  await assert.rejects(
    runEngineCall(
      {
        operation: "inspect_image",
        context: { image: "app:1" },
        engineUrl,
        timeoutMs: 10_000,
        call: undefined,
        observer,
      },
      () => Promise.reject(notFound),
    ),
    (err: unknown) => err instanceof ImageNotFoundError && err.message.includes("app:1"),
  );
  const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  await assert.rejects(
    runEngineCall(
      { operation: "ping", context: {}, engineUrl, timeoutMs: 10_000, call: undefined, observer },
      () => Promise.reject(refused),
    ),
    EngineUnreachableError,
  );
  assert.deepEqual(observer.calls, [
    ["inspect_image", "ImageNotFound"],
    ["ping", "EngineUnreachable"],
  ]);
});

test("a caller that gives up gets its own reason back, not counted as the engine's failure", async () => {
  const observer = recordingObserver();
  const caller = new AbortController();
  const reason = new Error("shutting down");
  const pending = runEngineCall(
    {
      operation: "pull_image",
      context: {},
      engineUrl,
      timeoutMs: 60_000,
      call: { signal: caller.signal },
      observer,
    },
    () => new Promise<never>(() => undefined),
  );
  caller.abort(reason);
  await assert.rejects(pending, (err: unknown) => err === reason);
  assert.deepEqual(observer.calls, [["pull_image", undefined]]);
  const already = new AbortController();
  already.abort(reason);
  await assert.rejects(
    runEngineCall(
      {
        operation: "ping",
        context: {},
        engineUrl,
        timeoutMs: 60_000,
        call: { signal: already.signal },
        observer,
      },
      () => new Promise<never>(() => undefined),
    ),
    (err: unknown) => err === reason,
  );
});
