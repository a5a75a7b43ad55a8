import { test } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { DockerEngine } from "./engine.js";
import { DockerError, InvalidImageNameError } from "./errors.js";
import { committedCrd, version, walk } from "../testing/crd-schemas.js";
import { IMAGE_REFERENCE_PATTERN, imagePathSegment, imageReferenceProblem } from "./reference.js";

/** The name that walks from /images/<name>/json into /images/get (an export of every image). */
const TRAVERSAL = "x/../../images/get?names=big&a=";

const VALID = [
  "busybox",
  "berth-test/echo:1",
  "library/nginx:1.27-alpine",
  "registry.example.com/team/app:1.2",
  "127.0.0.1:5000/berth/private:v1",
  "localhost:5000/a/b/c",
  "my_app__x/a-b--c.d:Tag_1.0-rc",
  `app@sha256:${"a".repeat(64)}`,
  `registry.example.com:443/team/app:1.2@sha256:${"0f".repeat(32)}`,
  "berth-build/team-a-web:0123456789ab-deadbeef",
];

const INVALID = [
  TRAVERSAL,
  "",
  "a/../b",
  "./app",
  "app:",
  "app/Upper",
  "berth-test/echo 1",
  "app?x=1",
  "app#frag",
  "app%2F..",
  "/absolute",
  "trailing/",
  "double//slash",
  "app:-leading-dash",
  `app:${"t".repeat(129)}`,
  "app@sha256:short",
  "app@sha256:" + "g".repeat(64),
  "a\nb",
  `${"a".repeat(256)}:1`,
  "x".repeat(513),
];

test("image references of the distribution grammar are accepted", () => {
  for (const reference of VALID) assert.equal(imageReferenceProblem(reference), undefined, reference);
});

test("anything else is refused with a reason, the hidden traversal first", () => {
  for (const reference of INVALID) {
    const problem = imageReferenceProblem(reference);
    assert.ok(problem, `${JSON.stringify(reference)} is refused`);
  }
  assert.match(imageReferenceProblem(TRAVERSAL) ?? "", /not an image reference/);
});

test("the pattern has no backslash, so the CRD's CEL rule can carry it verbatim", () => {
  assert.ok(!IMAGE_REFERENCE_PATTERN.includes("\\"));
});

test("a path segment keeps slashes, colons and everything else from changing the path", () => {
  assert.equal(imagePathSegment("127.0.0.1:5000/team/app:1"), "127.0.0.1%3A5000%2Fteam%2Fapp%3A1");
  assert.ok(!/[/?&#]/.test(imagePathSegment(TRAVERSAL)));
});

interface Recorded {
  engine: DockerEngine;
  requests: string[];
}

/** A DockerEngine talking to a recording stand-in on a unix socket: it sees every request path. */
async function recordingEngine(t: TestContext): Promise<Recorded> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "berth-docker-ref-"));
  const socket = path.join(dir, "engine.sock");
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: "No such image" }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  return { engine: new DockerEngine({ url: `unix://${socket}` }), requests };
}

test("the Docker module refuses the traversal name before any request reaches the engine", async (t) => {
  const { engine, requests } = await recordingEngine(t);
  const refused = (operation: string) => (err: unknown) => {
    assert.ok(err instanceof InvalidImageNameError, `${operation}: ${String(err)}`);
    assert.ok(err instanceof DockerError);
    assert.equal(err.reason, "InvalidImageName");
    assert.match(err.message, /not an image reference/);
    return true;
  };
  await assert.rejects(engine.inspectImage(TRAVERSAL), refused("inspect"));
  await assert.rejects(engine.imageExists(TRAVERSAL), refused("exists"));
  await assert.rejects(engine.pullImage(TRAVERSAL), refused("pull"));
  await assert.rejects(engine.createContainer({ image: TRAVERSAL, labels: {} }), refused("create"));
  await assert.rejects(engine.buildImage({ context: os.tmpdir(), tags: [TRAVERSAL] }), refused("build"));
  assert.deepEqual(requests, []);
});

test("a valid name goes into the engine's path encoded, as one segment", async (t) => {
  const { engine, requests } = await recordingEngine(t);
  assert.equal(await engine.imageExists("127.0.0.1:5000/team/app:1"), false);
  assert.equal(requests.length, 1);
  assert.match(requests[0] ?? "", /\/images\/127\.0\.0\.1%3A5000%2Fteam%2Fapp%3A1\/json$/);
});

test("image names are checked at apply time with the agent's own reference grammar", () => {
  const expected = `self.matches('${IMAGE_REFERENCE_PATTERN}')`;
  const found: string[] = [];
  for (const file of ["definition.yaml", "instance.yaml"]) {
    for (const [at, prop] of walk(version(committedCrd(file)).schema.openAPIV3Schema, "")) {
      if (!at.endsWith(".image.name")) continue;
      found.push(`${file}${at}`);
      const rules = (prop["x-kubernetes-validations"] ?? []).map((rule) => rule.rule);
      assert.deepEqual(rules, [expected], `${file}: ${at} carries the grammar of docker/reference.ts`);
    }
  }
  assert.deepEqual(found, ["definition.yaml.spec.image.name", "instance.yaml.spec.template.image.name"]);
});
