import { test } from "node:test";
import assert from "node:assert/strict";
import { KubeApiError } from "./errors.js";
import { readAnswer, requestHeaders } from "./transport.js";

test("a 2xx answer is its parsed JSON; an empty or unparsable one is undefined", () => {
  assert.deepEqual(readAnswer("GET /x", 200, '{"kind":"Pod"}'), { value: { kind: "Pod" } });
  assert.deepEqual(readAnswer("DELETE /x", 200, ""), { value: undefined });
  assert.deepEqual(readAnswer("GET /x", 204, "not json"), { value: undefined });
});

test("an error answer carries the server's Status and its message, naming the request", () => {
  const status = {
    kind: "Status",
    status: "Failure",
    reason: "NotFound",
    code: 404,
    message: 'pods "a" not found',
  };
  const answer = readAnswer("GET /api/v1/namespaces/n/pods/a", 404, JSON.stringify(status));
  assert.ok("error" in answer);
  assert.ok(answer.error instanceof KubeApiError);
  assert.equal(answer.error.statusCode, 404);
  assert.equal(answer.error.message, 'GET /api/v1/namespaces/n/pods/a: pods "a" not found');
  assert.equal(answer.error.status?.reason, "NotFound");
});

test("an error answer that is not a Status quotes the start of what came, or the HTTP code", () => {
  const long = readAnswer("GET /x", 502, `<html>${"x".repeat(1_000)}</html>`);
  assert.ok("error" in long);
  assert.equal(long.error.message, `GET /x: <html>${"x".repeat(194)}`);
  const empty = readAnswer("GET /x", 503, "");
  assert.ok("error" in empty);
  assert.equal(empty.error.message, "GET /x: HTTP 503");
});

test("requests ask for JSON and carry the auth headers client-node set", () => {
  assert.deepEqual(requestHeaders({}), { Accept: "application/json" });
  assert.deepEqual(requestHeaders({ headers: { Authorization: "Bearer t" } }), {
    Accept: "application/json",
    Authorization: "Bearer t",
  });
});
