import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubeClient } from "../kube/client.js";
import { FakeClock } from "../testing/fake-clock.js";
import { KubeAuthorizer } from "./auth.js";

/** A client whose reviews are answered only when the test says so, counting each one. */
function reviewingClient() {
  const reviews: Array<{ kind: string; answer: (status: object) => void; fail: (err: Error) => void }> = [];
  const client = {
    create: (_resource: unknown, body: { kind: string }) =>
      new Promise((resolve, reject) => {
        reviews.push({
          kind: body.kind,
          answer: (status) => resolve({ ...body, status }),
          fail: reject,
        });
      }),
  } as unknown as KubeClient;
  return { client, reviews };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("requests that miss the cache together share one TokenReview and one SubjectAccessReview", async () => {
  const { client, reviews } = reviewingClient();
  const clock = new FakeClock();
  const authorizer = new KubeAuthorizer({ client, clock, cacheTtlMs: 10_000, cacheSize: 100 });

  const callers = Array.from({ length: 50 }, () => authorizer.authenticate("token-a"));
  await flush();
  assert.equal(reviews.length, 1, "one TokenReview for 50 concurrent requests with one token");
  reviews[0]!.answer({ authenticated: true, user: { username: "alice", groups: ["team"] } });
  const answered = await Promise.all(callers);
  assert.ok(answered.every((caller) => caller?.username === "alice"));

  const alice = answered[0]!;
  const access = { verb: "get", resource: "definitions", namespace: "team", name: "web" } as const;
  const decisions = Array.from({ length: 50 }, () => authorizer.authorize(alice, access));
  await flush();
  assert.equal(reviews.length, 2, "one SubjectAccessReview for 50 concurrent requests");
  assert.equal(reviews[1]!.kind, "SubjectAccessReview");
  reviews[1]!.answer({ allowed: true });
  assert.ok((await Promise.all(decisions)).every((d) => d.allowed));

  // Another token is its own review.
  const other = authorizer.authenticate("token-b");
  await flush();
  assert.equal(reviews.length, 3);
  reviews[2]!.answer({ authenticated: false });
  assert.equal(await other, undefined);
});

test("a failed review is shared by its waiters and not remembered: the next request asks again", async () => {
  const { client, reviews } = reviewingClient();
  const authorizer = new KubeAuthorizer({
    client,
    clock: new FakeClock(),
    cacheTtlMs: 10_000,
    cacheSize: 100,
  });
  const first = authorizer.authenticate("token-a");
  const second = authorizer.authenticate("token-a");
  await flush();
  assert.equal(reviews.length, 1);
  reviews[0]!.fail(new Error("connection refused"));
  await assert.rejects(first, { name: "ReviewUnavailableError" });
  await assert.rejects(second, { name: "ReviewUnavailableError" });

  const retry = authorizer.authenticate("token-a");
  await flush();
  assert.equal(reviews.length, 2, "the failure was not cached");
  reviews[1]!.answer({ authenticated: true, user: { username: "alice" } });
  assert.equal((await retry)?.username, "alice");
});

test("an expired answer is asked again, once for all the requests that find it expired", async () => {
  const { client, reviews } = reviewingClient();
  const clock = new FakeClock();
  const authorizer = new KubeAuthorizer({ client, clock, cacheTtlMs: 1000, cacheSize: 100 });
  const first = authorizer.authenticate("token-a");
  await flush();
  reviews[0]!.answer({ authenticated: true, user: { username: "alice" } });
  await first;
  await authorizer.authenticate("token-a");
  assert.equal(reviews.length, 1, "cached");
  clock.advance(1001);
  const again = Array.from({ length: 20 }, () => authorizer.authenticate("token-a"));
  await flush();
  assert.equal(reviews.length, 2, "one review after expiry");
  reviews[1]!.answer({ authenticated: true, user: { username: "alice" } });
  await Promise.all(again);
});
