import { test } from "node:test";
import assert from "node:assert/strict";
import { openApiDocument } from "./openapi.js";
import { ROUTES, matchRoute } from "./routes.js";

interface Document {
  openapi: string;
  paths: Record<
    string,
    Record<string, { operationId: string; parameters?: Array<{ name: string; in: string }> }>
  >;
  components: { schemas: Record<string, unknown> };
}

const doc = openApiDocument() as Document;

test("the OpenAPI document is 3.1 and describes exactly the routes the server dispatches", () => {
  assert.equal(doc.openapi, "3.1.0");
  const described = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`),
  );
  const routed = ROUTES.map((route) => `${route.method} ${route.path} ${route.id}`);
  assert.deepEqual(described.sort(), routed.sort());
});

test("every described operation is reached by its path, and every path parameter is declared", () => {
  for (const [path, methods] of Object.entries(doc.paths)) {
    const concrete = path
      .replace(/\{namespace\}/, "team-a")
      .replace(/\{slug\}/, "orders")
      .replace(/\{name\}/, "orders-ext-1");
    for (const [method, op] of Object.entries(methods)) {
      const match = matchRoute(method.toUpperCase(), concrete);
      assert.ok(match && "route" in match, `${method} ${path} is routed`);
      assert.equal(match.route.id, op.operationId);
      const declared = (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.sort(), inPath.sort(), `${method} ${path} declares its path parameters`);
    }
  }
});

test("every schema reference resolves", () => {
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map(
    (m) => m[1]!,
  );
  assert.ok(refs.length > 0);
  for (const name of refs) assert.ok(name in doc.components.schemas, `schema ${name} exists`);
});

test("matchRoute tells an unknown path (404) from a known path with another method (405)", () => {
  assert.equal(matchRoute("GET", "/v1/namespaces/a/nothing"), undefined);
  assert.deepEqual(matchRoute("PATCH", "/v1/namespaces/a/services/b/instances"), { allowed: ["POST"] });
  const match = matchRoute("GET", "/v1/namespaces/a/services/b%2Dc");
  assert.ok(match && "route" in match);
  assert.deepEqual(match.params, { namespace: "a", slug: "b-c" });
});
