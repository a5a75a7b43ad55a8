import { test } from "node:test";
import assert from "node:assert/strict";
import type { Secret } from "../kube/resources.js";
import { SourceError } from "./errors.js";
import { normaliseRegistryHost, registryAuthFromSecret, registryHostOf } from "./registry-auth.js";

const b64 = (text: string) => Buffer.from(text).toString("base64");

function dockerConfigSecret(config: unknown, type = "kubernetes.io/dockerconfigjson"): Secret {
  return {
    metadata: { namespace: "team", name: "regcred" },
    type,
    data: { ".dockerconfigjson": b64(typeof config === "string" ? config : JSON.stringify(config)) },
  };
}

function invalidWithout(secretText: string) {
  return (err: unknown) => {
    assert.ok(err instanceof SourceError);
    assert.equal(err.reason, "PullSecretInvalid");
    assert.ok(err.message.includes("team/regcred"), err.message);
    assert.ok(!err.message.includes(secretText), `the message leaks the secret: ${err.message}`);
    assert.equal(err.cause, undefined);
    return true;
  };
}

test("the registry host of an image reference, Docker Hub by default", () => {
  assert.equal(registryHostOf("nginx"), "docker.io");
  assert.equal(registryHostOf("nginx:1.25"), "docker.io");
  assert.equal(registryHostOf("library/nginx@sha256:abc"), "docker.io");
  assert.equal(registryHostOf("docker.io/library/nginx"), "docker.io");
  assert.equal(registryHostOf("index.docker.io/library/nginx"), "docker.io");
  assert.equal(registryHostOf("127.0.0.1:5000/berth-test/echo:1"), "127.0.0.1:5000");
  assert.equal(registryHostOf("localhost/app"), "localhost");
  assert.equal(registryHostOf("Registry.Example.com/team/app"), "registry.example.com");
});

test("config keys are reduced to the host they name", () => {
  assert.equal(normaliseRegistryHost("https://index.docker.io/v1/"), "docker.io");
  assert.equal(normaliseRegistryHost("registry-1.docker.io"), "docker.io");
  assert.equal(normaliseRegistryHost("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
  assert.equal(normaliseRegistryHost("registry.example.com"), "registry.example.com");
});

test("credentials from a base64 user:password auth field", () => {
  const secret = dockerConfigSecret({ auths: { "127.0.0.1:5000": { auth: b64("alice:pa:ss") } } });
  assert.deepEqual(registryAuthFromSecret(secret, "127.0.0.1:5000/berth-test/echo:1"), {
    username: "alice",
    password: "pa:ss",
    serverAddress: "127.0.0.1:5000",
  });
});

test("credentials from username and password fields, under a URL-shaped key", () => {
  const secret = dockerConfigSecret({
    auths: {
      "https://registry.example.com/v2/": { username: "bob", password: "pw", email: "b@example.com" },
    },
  });
  assert.deepEqual(registryAuthFromSecret(secret, "registry.example.com/team/app:2"), {
    username: "bob",
    password: "pw",
    serverAddress: "registry.example.com",
  });
});

test("Docker Hub credentials match images without a registry host", () => {
  const secret = dockerConfigSecret({ auths: { "https://index.docker.io/v1/": { auth: b64("carol:pw") } } });
  assert.deepEqual(registryAuthFromSecret(secret, "team/app:1"), {
    username: "carol",
    password: "pw",
    serverAddress: "https://index.docker.io/v1/",
  });
});

test("an identity token is passed as one", () => {
  const secret = dockerConfigSecret({ auths: { "registry.example.com": { identitytoken: "tok" } } });
  assert.deepEqual(registryAuthFromSecret(secret, "registry.example.com/app"), {
    identityToken: "tok",
    serverAddress: "registry.example.com",
  });
});

test("the legacy dockercfg format is read too", () => {
  const secret: Secret = {
    metadata: { namespace: "team", name: "regcred" },
    type: "kubernetes.io/dockercfg",
    data: { ".dockercfg": b64(JSON.stringify({ "registry.example.com": { auth: b64("dave:pw") } })) },
  };
  assert.equal(registryAuthFromSecret(secret, "registry.example.com/app").username, "dave");
});

test("unusable secrets are PullSecretInvalid and never quote the secret", () => {
  const password = "s3cr3t-value";
  assert.throws(
    () =>
      registryAuthFromSecret(
        {
          metadata: { namespace: "team", name: "regcred" },
          type: "Opaque",
          data: { password: b64(password) },
        },
        "registry.example.com/app",
      ),
    invalidWithout(password),
  );
  assert.throws(
    () => registryAuthFromSecret(dockerConfigSecret(`{"auths": {"x": "${password}"`), "x/app"),
    invalidWithout(password),
  );
  assert.throws(
    () => registryAuthFromSecret(dockerConfigSecret({ notAuths: password }), "x.io/app"),
    invalidWithout(password),
  );
  assert.throws(
    () =>
      registryAuthFromSecret(
        dockerConfigSecret({ auths: { "other.example.com": { auth: b64(`eve:${password}`) } } }),
        "registry.example.com/app",
      ),
    (err: unknown) =>
      invalidWithout(password)(err) && /no credentials for registry registry\.example\.com/.test(String(err)),
  );
  assert.throws(
    () =>
      registryAuthFromSecret(dockerConfigSecret({ auths: { "x.io": { auth: b64(password) } } }), "x.io/app"),
    invalidWithout(password),
  );
  assert.throws(
    () =>
      registryAuthFromSecret(
        { metadata: { namespace: "team", name: "regcred" }, type: "kubernetes.io/dockerconfigjson" },
        "x.io/a",
      ),
    invalidWithout(password),
  );
});
