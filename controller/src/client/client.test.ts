import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { RoundRobin } from "./balancer.js";
import type { RegistryInstance } from "./types.js";

const instance = (name: string, ready = true): RegistryInstance => ({
  name,
  url: `http://${name}:80`,
  host: name,
  port: 80,
  node: null,
  deploymentId: null,
  ready,
  external: true,
});

test("the client library imports nothing but Node and its own files", () => {
  const dir = new URL("./", import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
    const source = readFileSync(new URL(file, dir), "utf8");
    for (const [, from] of source.matchAll(/^(?:import|export)\b[^;]*?from "([^"]+)"/gm)) {
      assert.ok(from!.startsWith("./") || from!.startsWith("node:"), `${file} imports ${from}`);
    }
  }
});

test("package.json exports the client where the build puts it", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    exports: Record<string, { default: string; types: string }>;
  };
  const tsconfig = JSON.parse(readFileSync(new URL("../../../tsconfig.json", import.meta.url), "utf8")) as {
    compilerOptions: { rootDir: string; outDir: string; declaration: boolean };
  };
  assert.equal(tsconfig.compilerOptions.rootDir, "controller/src");
  assert.equal(pkg.exports["./client"]?.default, `./${tsconfig.compilerOptions.outDir}/client/index.js`);
  assert.equal(pkg.exports["./client"]?.types, `./${tsconfig.compilerOptions.outDir}/client/index.d.ts`);
  assert.equal(tsconfig.compilerOptions.declaration, true, "the types are emitted");
});

test("round-robin skips not-ready instances and ejects a failed address for its cool-down", () => {
  let now = 0;
  const balancer = new RoundRobin({ coolDownMs: 1000, failuresToEject: 2, now: () => now });
  balancer.update([instance("a"), instance("b"), instance("c", false)]);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => balancer.pick()?.name),
    ["a", "b", "a", "b"],
  );
  balancer.connectionFailed("http://a:80");
  assert.deepEqual(
    [1, 2, 3].map(() => balancer.pick()?.name),
    ["b", "b", "b"],
  );
  now = 1000;
  assert.ok(["a", "b"].includes(balancer.pick()?.name ?? ""));
  assert.deepEqual(new Set([1, 2].map(() => balancer.pick()?.name)), new Set(["a", "b"]), "a is back");
  balancer.answerFailed("http://b:80");
  assert.deepEqual(
    new Set([1, 2].map(() => balancer.pick()?.name)),
    new Set(["a", "b"]),
    "one 5xx is not enough",
  );
  balancer.answerFailed("http://b:80");
  assert.deepEqual(
    [1, 2].map(() => balancer.pick()?.name),
    ["a", "a"],
  );
  balancer.connectionFailed("http://a:80");
  assert.ok(balancer.pick(), "with every address ejected, one is still offered");
  assert.equal(balancer.pick(new Set(["http://a:80", "http://b:80"])), undefined);
});
