import { test } from "node:test";
import assert from "node:assert/strict";
import { SharedBuilds } from "./shared-build.js";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((done, fail) => {
    resolve = done;
    reject = fail;
  });
  return { promise, resolve, reject };
}

test("requests for one tag share one build; a finished build is not joined again", async () => {
  const builds = new SharedBuilds<string>();
  let started = 0;
  const result = deferred<string>();
  const start = () => {
    started++;
    return result.promise;
  };
  const first = builds.join("t", undefined, start);
  const second = builds.join("t", undefined, start);
  result.resolve("image");
  assert.deepEqual(await Promise.all([first, second]), ["image", "image"]);
  assert.equal(started, 1);
  assert.equal(await builds.join("t", undefined, async () => "again"), "again");
});

test("a build is cancelled only when every request for it has gone, and the next one starts afresh", async () => {
  const builds = new SharedBuilds<string>();
  let cancelSignal: AbortSignal | undefined;
  const never = new Promise<string>(() => undefined);
  const a = new AbortController();
  const b = new AbortController();
  const first = builds.join("t", a.signal, (signal) => {
    cancelSignal = signal;
    return never;
  });
  const second = builds.join("t", b.signal, () => Promise.reject(new Error("not started twice")));
  a.abort(new Error("a left"));
  await assert.rejects(first, /a left/);
  assert.equal(cancelSignal?.aborted, false);
  b.abort(new Error("b left"));
  await assert.rejects(second, /b left/);
  assert.equal(cancelSignal?.aborted, true);
  assert.equal(await builds.join("t", undefined, async () => "fresh"), "fresh");
});

test("a failed build fails every request for it, and the next request builds again", async () => {
  const builds = new SharedBuilds<string>();
  const result = deferred<string>();
  const first = builds.join("t", undefined, () => result.promise);
  const second = builds.join("t", undefined, () => Promise.resolve("unused"));
  result.reject(new Error("step 3 failed"));
  await assert.rejects(first, /step 3 failed/);
  await assert.rejects(second, /step 3 failed/);
  assert.equal(await builds.join("t", undefined, async () => "rebuilt"), "rebuilt");
});
