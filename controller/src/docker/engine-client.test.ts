import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildRequest, dockerodeFor, toAuthConfig, toEngineInfo, toEngineVersion } from "./engine-client.js";

test("credentials become the engine's auth config; none stays anonymous", () => {
  assert.equal(toAuthConfig(undefined), undefined);
  assert.deepEqual(toAuthConfig({ username: "u", password: "p", serverAddress: "registry.test" }), {
    username: "u",
    password: "p",
    serveraddress: "registry.test",
  });
  assert.equal(
    (toAuthConfig({ identityToken: "tok" }) as { identitytoken?: string } | undefined)?.identitytoken,
    "tok",
  );
});

test("the engine's version and info are read with defaults for what it leaves out", () => {
  assert.deepEqual(toEngineInfo({}), {
    name: "",
    cpus: 0,
    memoryBytes: 0,
    containersRunning: 0,
    rootDir: "",
  });
  assert.deepEqual(
    toEngineInfo({ Name: "n", NCPU: 2, MemTotal: 10, ContainersRunning: 1, DockerRootDir: "/d" }),
    {
      name: "n",
      cpus: 2,
      memoryBytes: 10,
      containersRunning: 1,
      rootDir: "/d",
    },
  );
  const version = toEngineVersion({
    Version: "27.0",
    ApiVersion: "1.46",
    Os: "linux",
    Arch: "amd64",
    KernelVersion: "6.1",
  } as Parameters<typeof toEngineVersion>[0]);
  assert.deepEqual(version, {
    version: "27.0",
    apiVersion: "1.46",
    os: "linux",
    arch: "amd64",
    kernelVersion: "6.1",
  });
});

test("a build from a directory sends its files, every tag, and removes intermediate containers", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "berth-build-request-"));
  try {
    writeFileSync(path.join(dir, "Containerfile"), "FROM scratch\n");
    writeFileSync(path.join(dir, "app.txt"), "x");
    const signal = new AbortController().signal;
    const { context, query } = await buildRequest(
      { context: dir, tags: ["a:1", "a:latest"], containerFile: "Containerfile", labels: { l: "v" } },
      signal,
    );
    assert.deepEqual((context as { context: string; src: string[] }).src.sort(), [
      "Containerfile",
      "app.txt",
    ]);
    const sent = query as unknown as Record<string, unknown>;
    assert.deepEqual(sent.t, ["a:1", "a:latest"]);
    assert.equal(sent.dockerfile, "Containerfile");
    assert.equal(sent.rm, true);
    assert.equal(sent.forcerm, true);
    assert.equal(sent.abortSignal, signal);
    const defaults = await buildRequest({ context: dir, tags: ["a:1"] }, signal);
    assert.equal((defaults.query as unknown as Record<string, unknown>).dockerfile, "Dockerfile");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the client talks only to the engine it is given, never to DOCKER_HOST", () => {
  const previous = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = "tcp://10.9.9.9:2375";
  try {
    const client = dockerodeFor("unix:///run/berth-test.sock", undefined) as unknown as {
      modem: { socketPath?: string; host?: string };
    };
    assert.equal(client.modem.socketPath, "/run/berth-test.sock");
    assert.equal(client.modem.host, undefined);
  } finally {
    if (previous === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = previous;
  }
});
