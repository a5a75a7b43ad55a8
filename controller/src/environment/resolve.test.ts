import { test } from "node:test";
import assert from "node:assert/strict";
import type { Definition } from "../api/types.js";
import type { EnvSources } from "./resolve.js";
import { EnvironmentError, decodeSecretData, resolveEnv, withoutLiteralValues } from "./resolve.js";

function definition(name: string, addresses?: string[]): Definition {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Definition",
    metadata: { namespace: "shop", name },
    spec: { image: { name: "x", port: 1 } },
    ...(addresses ? { status: { addresses } } : {}),
  };
}

function sources(
  objects: {
    secrets?: Record<string, Record<string, string>>;
    configMaps?: Record<string, Record<string, string>>;
    definitions?: Definition[];
  } = {},
): EnvSources {
  return {
    secret: (name) => objects.secrets?.[name],
    configMap: (name) => objects.configMaps?.[name],
    definition: (name) => objects.definitions?.find((d) => d.metadata.name === name),
  };
}

test("env resolves values, Secret and ConfigMap keys and envFrom with prefixes; env beats envFrom", () => {
  const env = resolveEnv(
    {
      envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CFG_" }, { secretRef: { name: "creds" } }],
      env: [
        { name: "PLAIN", value: "p" },
        { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
        { name: "MODE", valueFrom: { configMapKeyRef: { name: "cfg", key: "mode" } } },
        { name: "USER", value: "override" },
        { name: "MAYBE", valueFrom: { secretKeyRef: { name: "absent", key: "k", optional: true } } },
      ],
    },
    sources({
      secrets: { creds: { password: "s3cret", USER: "from-secret", "bad-name": "x" } },
      configMaps: { cfg: { mode: "fast" } },
    }),
  );
  assert.deepEqual(Object.fromEntries(env), {
    CFG_mode: "fast",
    MODE: "fast",
    PASSWORD: "s3cret",
    PLAIN: "p",
    USER: "override",
    password: "s3cret",
  });
  // Later wins: the env entry comes after the envFrom one of the same name.
  assert.deepEqual(
    env.filter(([name]) => name === "USER"),
    [
      ["USER", "from-secret"],
      ["USER", "override"],
    ],
  );
});

test("a missing Secret or key fails with CreateContainerConfigError naming it but not any value", () => {
  assert.throws(
    () =>
      resolveEnv(
        { env: [{ name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "missing" } } }] },
        sources({ secrets: { creds: { password: "s3cret" } } }),
      ),
    (err: unknown) => {
      assert.ok(err instanceof EnvironmentError);
      assert.equal(err.reason, "CreateContainerConfigError");
      assert.match(err.message, /Secret "creds" has no key "missing"/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    },
  );
  assert.throws(
    () => resolveEnv({ envFrom: [{ secretRef: { name: "gone" } }] }, sources()),
    /Secret "gone" not found/,
  );
});

test("dependencies become BERTH_DEP_<SLUG>_URL and _URLS; one without ready addresses blocks", () => {
  const env = resolveEnv(
    { dependsOn: ["user-db", "cache"] },
    sources({
      definitions: [
        definition("user-db", ["http://10.0.0.5:32768", "http://10.0.0.6:32770"]),
        definition("cache", ["http://10.0.0.7:6379"]),
      ],
    }),
  );
  assert.deepEqual(env, [
    ["BERTH_DEP_USER_DB_URL", "http://10.0.0.5:32768"],
    ["BERTH_DEP_USER_DB_URLS", "http://10.0.0.5:32768,http://10.0.0.6:32770"],
    ["BERTH_DEP_CACHE_URL", "http://10.0.0.7:6379"],
    ["BERTH_DEP_CACHE_URLS", "http://10.0.0.7:6379"],
  ]);
  assert.throws(
    () => resolveEnv({ dependsOn: ["cache"] }, sources({ definitions: [definition("cache")] })),
    (err: unknown) => err instanceof EnvironmentError && err.reason === "DependencyNotReady",
  );
  assert.throws(
    () => resolveEnv({ dependsOn: ["cache"] }, sources()),
    (err: unknown) => err instanceof EnvironmentError && err.reason === "DependencyNotReady",
  );
});

test("Secret data is base64-decoded", () => {
  assert.deepEqual(decodeSecretData({ a: Buffer.from("hello").toString("base64") }), { a: "hello" });
});

test("an Instance's template keeps env names and references but no literal value", () => {
  const template = withoutLiteralValues({
    image: { name: "a", port: 1 },
    env: [
      { name: "TOKEN", value: "literal-secret" },
      { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
    ],
  });
  assert.deepEqual(template.env, [
    { name: "TOKEN" },
    { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
  ]);
  assert.doesNotMatch(JSON.stringify(template), /literal-secret/);
});
