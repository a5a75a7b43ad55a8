import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpError } from "./http.js";
import { MAX_OPERATIONS, documentUrl, fetchEndpointDocument, operationsOf } from "./endpoint-document.js";

test("an endpoint URL is resolved on the instance's address and may not leave it", () => {
  assert.equal(
    documentUrl("http://10.0.0.5:32768", "/openapi.json").href,
    "http://10.0.0.5:32768/openapi.json",
  );
  assert.equal(
    documentUrl("http://10.0.0.5:32768", "docs/api.yaml").href,
    "http://10.0.0.5:32768/docs/api.yaml",
  );
  assert.equal(
    documentUrl("http://10.0.0.5:32768", "http://10.0.0.5:32768/v3/api-docs").href,
    "http://10.0.0.5:32768/v3/api-docs",
  );
  for (const elsewhere of [
    "http://169.254.169.254/latest/meta-data",
    "//evil.example/openapi.json",
    "http://10.0.0.5:22/openapi.json",
    "https://10.0.0.5:32768/openapi.json",
    "http://user:pw@10.0.0.5:32768/openapi.json",
    "file:///etc/passwd",
  ]) {
    assert.throws(
      () => documentUrl("http://10.0.0.5:32768", elsewhere),
      (err: unknown) => err instanceof HttpError && err.status === 422 && err.field === "url",
      elsewhere,
    );
  }
});

test("operations are read from paths in order, text only, bounded", () => {
  const read = operationsOf({
    info: { title: "Orders", version: 3 },
    paths: {
      "/a": { get: { summary: "A" }, parameters: [], post: { description: "make", operationId: "makeA" } },
      "/b": { delete: { summary: { html: "<b>" } }, "x-other": {} },
      "/c": "not an object",
    },
  });
  assert.deepEqual(read, {
    title: "Orders",
    version: "",
    truncated: false,
    operations: [
      { method: "GET", path: "/a", summary: "A", operationId: "" },
      { method: "POST", path: "/a", summary: "make", operationId: "makeA" },
      { method: "DELETE", path: "/b", summary: "", operationId: "" },
    ],
  });
  assert.deepEqual(operationsOf("nonsense").operations, []);
  const many = Object.fromEntries(
    Array.from({ length: MAX_OPERATIONS + 5 }, (_, i) => [`/p${i}`, { get: {} }]),
  );
  const bounded = operationsOf({ paths: many });
  assert.equal(bounded.operations.length, MAX_OPERATIONS);
  assert.equal(bounded.truncated, true);
});

async function serve(t: TestContext, handler: http.RequestListener): Promise<URL> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi`);
}

test("a document is fetched within its size and time bounds; redirects are not followed", async (t) => {
  const big = "x".repeat(4096);
  const url = await serve(t, (req, res) => {
    if (req.url === "/openapi") res.end(JSON.stringify({ paths: { "/x": { get: { summary: "X" } } } }));
    else if (req.url === "/openapi.yaml") res.end("paths:\n  /y:\n    put:\n      summary: Y\n");
    else if (req.url === "/big") res.end(big);
    else if (req.url === "/chunked-big") {
      res.write(big);
      res.end(big);
    } else if (req.url === "/slow") setTimeout(() => res.end("{}"), 2000).unref();
    else if (req.url === "/moved") res.writeHead(302, { Location: "http://169.254.169.254/" }).end();
    else res.writeHead(404).end();
  });
  const bounds = { timeoutMs: 300, maxBytes: 1000 };
  const at = (path: string) => new URL(path, url);
  assert.deepEqual((await fetchEndpointDocument(url, bounds)).operations, [
    { method: "GET", path: "/x", summary: "X", operationId: "" },
  ]);
  assert.equal((await fetchEndpointDocument(at("/openapi.yaml"), bounds)).operations[0]?.method, "PUT");
  const failsWith = async (path: string, status: number, pattern: RegExp) =>
    await assert.rejects(
      fetchEndpointDocument(at(path), bounds),
      (err: unknown) => err instanceof HttpError && err.status === status && pattern.test(err.message),
      path,
    );
  await failsWith("/big", 502, /4096 bytes; at most 1000/);
  await failsWith("/chunked-big", 502, /larger than 1000 bytes|at most 1000/);
  await failsWith("/slow", 504, /did not answer within 300 ms|not read within/);
  await failsWith("/moved", 502, /answered 302.*redirects are not followed/);
  await failsWith("/missing", 502, /answered 404/);
});
