/**
 * DockerEngine against a real Docker engine (and a second one from hack/engines.sh).
 * Run: bash hack/with-env.sh node --import tsx --test test/integration/docker-engine.test.ts
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createNetServer, type Server } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LABELS } from "../../controller/src/api/vocabulary.js";
import {
  BuildFailedError,
  DockerTimeoutError,
  EngineUnreachableError,
  ImageNotFoundError,
  PortInUseError,
  RegistryUnreachableError,
} from "../../controller/src/docker/errors.js";
import { type ContainerSpec, hostPortFor } from "../../controller/src/docker/types.js";
import { DockerEngine } from "../../controller/src/docker/engine.js";
import { type DockerEngineOptions } from "../../controller/src/docker/options.js";
import { type DockerObserver } from "../../controller/src/docker/metrics.js";
import { type EngineEvent } from "../../controller/src/docker/events.js";
import { registry } from "../../controller/src/runtime/metrics.js";
import { env, httpGet, images, run, waitFor } from "../harness/index.js";

const RUN_LABEL = "berth.dev/test-run";
const runId = randomBytes(4).toString("hex");
const DEBIAN_DOCKER = "/usr/bin/docker";

interface Observation {
  operation: string;
  errorReason?: string;
}

function recordingObserver(): DockerObserver & { seen: Observation[] } {
  const seen: Observation[] = [];
  return {
    seen,
    operationFinished(operation, _seconds, errorReason) {
      seen.push(errorReason ? { operation, errorReason } : { operation });
    },
  };
}

function engineFor(url: string, extra: Partial<DockerEngineOptions> = {}): DockerEngine {
  return new DockerEngine({ url, timeouts: { requestMs: 20_000 }, ...extra });
}

/** A spec for the echo image with this run's label; `instance` names it for label queries. */
function echoSpec(instance: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    image: images.echo,
    labels: { [LABELS.instance]: instance, [RUN_LABEL]: runId },
    env: { ID: instance },
    ports: [{ containerPort: 8080 }],
    ...extra,
  };
}

/** Creates and starts a container that the test removes when it ends. */
async function runContainer(t: TestContext, engine: DockerEngine, spec: ContainerSpec): Promise<string> {
  const id = await createForTest(t, engine, spec);
  await engine.startContainer(id);
  return id;
}

async function createForTest(t: TestContext, engine: DockerEngine, spec: ContainerSpec): Promise<string> {
  const id = await engine.createContainer(spec);
  t.after(async () => {
    await engine.removeContainer(id, { force: true });
  });
  return id;
}

function uniqueName(prefix: string): string {
  return `${prefix}-${runId}-${randomBytes(3).toString("hex")}`;
}

test("version and info describe the engine", async () => {
  const engine = engineFor(env().dockerHost);
  await engine.ping();
  const version = await engine.version();
  assert.match(version.version, /^\d+\.\d+/);
  assert.match(version.apiVersion, /^\d+\.\d+$/);
  const info = await engine.info();
  assert.ok(info.cpus > 0);
  assert.ok(info.memoryBytes > 0);
  const image = await engine.inspectImage(images.echo);
  assert.deepEqual(image.exposedPorts, [{ port: 8080, protocol: "tcp" }]);
});

test("a labelled container on a dynamic port answers HTTP on the port read back from inspect", async (t) => {
  const observer = recordingObserver();
  const engine = engineFor(env().dockerHost, { observer });
  const instance = uniqueName("echo");
  const id = await runContainer(
    t,
    engine,
    echoSpec(instance, { env: { ID: instance, MESSAGE: "hello from berth" } }),
  );
  const info = await engine.inspectContainer(id);
  assert.equal(info.state.running, true);
  assert.equal(info.labels[LABELS.managedBy], "berth");
  assert.equal(info.labels[LABELS.instance], instance);
  assert.equal(info.init, true);
  const port = hostPortFor(info.ports, 8080);
  assert.ok(port && port > 0, `a host port for 8080/tcp in ${JSON.stringify(info.ports)}`);
  const response = await waitFor("the container to answer", async () => {
    const got = await httpGet(`http://127.0.0.1:${port}/`);
    return got?.status === 200 ? got : undefined;
  });
  assert.equal(response.body, `${instance}\nhello from berth\n`);
  const injected = await httpGet(`http://127.0.0.1:${port}/cgi-bin/env?MESSAGE`);
  assert.equal(injected?.body, "hello from berth\n");
  assert.deepEqual(
    observer.seen.map((o) => o.operation),
    ["create_container", "start_container", "inspect_container"],
  );
});

test("a fixed host port that is taken fails with PortInUseError", async (t) => {
  const engine = engineFor(env().dockerHost);
  const first = await runContainer(t, engine, echoSpec(uniqueName("holder")));
  const takenPort = hostPortFor((await engine.inspectContainer(first)).ports, 8080);
  assert.ok(takenPort);
  const second = await createForTest(
    t,
    engine,
    echoSpec(uniqueName("clash"), { ports: [{ containerPort: 8080, hostPort: takenPort }] }),
  );
  const err = await engine.startContainer(second).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof PortInUseError, `PortInUseError, got ${String(err)}`);
  assert.equal(err.reason, "HostPortInUse");
  assert.equal(err.hostPort, takenPort);

  // A port held by a process on the host, not by a container.
  const server = createHttpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const heldPort = (server.address() as { port: number }).port;
  const third = await createForTest(
    t,
    engine,
    echoSpec(uniqueName("held"), {
      ports: [{ containerPort: 8080, hostIp: "127.0.0.1", hostPort: heldPort }],
    }),
  );
  await assert.rejects(
    engine.startContainer(third),
    (e: unknown) => e instanceof PortInUseError && e.hostPort === heldPort,
  );
});

test("a missing image fails with ImageNotFoundError; an unreachable registry fails fast", async () => {
  const observer = recordingObserver();
  const engine = engineFor(env().dockerHost, { observer });
  const missing = `berth-test/does-not-exist-${runId}:1`;
  assert.equal(await engine.imageExists(missing), false);
  assert.equal(await engine.imageExists(images.echo), true);
  await assert.rejects(
    engine.createContainer({ image: missing, labels: { [RUN_LABEL]: runId } }),
    (e: unknown) => e instanceof ImageNotFoundError && e.reason === "ImageNotFound" && e.image === missing,
  );
  // Nothing listens on port 1: the engine's registry client is refused at once.
  await assert.rejects(
    engine.pullImage(`127.0.0.1:1/berth-test/nothing:${runId}`, { timeoutMs: 30_000 }),
    (e: unknown) => e instanceof RegistryUnreachableError && e.reason === "RegistryUnreachable",
  );
  assert.ok(
    observer.seen.some((o) => o.operation === "create_container" && o.errorReason === "ImageNotFound"),
  );
  assert.ok(
    observer.seen.some((o) => o.operation === "pull_image" && o.errorReason === "RegistryUnreachable"),
  );
});

test("exec returns the command's exit code and output, and times out", async (t) => {
  const engine = engineFor(env().dockerHost);
  const id = await runContainer(t, engine, echoSpec(uniqueName("exec")));
  assert.deepEqual(await engine.exec(id, ["sh", "-c", "echo out; exit 7"]), { exitCode: 7, output: "out\n" });
  // stderr is kept too (its order against stdout is the engine's to choose).
  assert.deepEqual(await engine.exec(id, ["sh", "-c", "echo err >&2"]), { exitCode: 0, output: "err\n" });
  assert.equal((await engine.exec(id, ["true"])).exitCode, 0);
  await assert.rejects(engine.exec(id, ["sleep", "30"], { timeoutMs: 300 }), DockerTimeoutError);
});

test("memory and CPU limits are visible in inspect", async (t) => {
  const engine = engineFor(env().dockerHost);
  const id = await runContainer(
    t,
    engine,
    echoSpec(uniqueName("limits"), { memoryBytes: 64 * 1024 * 1024, nanoCpus: 250_000_000 }),
  );
  const info = await engine.inspectContainer(id);
  assert.equal(info.memoryBytes, 64 * 1024 * 1024);
  assert.equal(info.nanoCpus, 250_000_000);
});

test("stop delivers SIGTERM that ends the container before the grace period forces SIGKILL", async (t) => {
  const engine = engineFor(env().dockerHost);
  // The image's shell traps SIGTERM and exits 0; SIGKILL after the grace period would be 137.
  const trapped = await runContainer(t, engine, echoSpec(uniqueName("stop")));
  await engine.stopContainer(trapped, 30);
  const stopped = await engine.inspectContainer(trapped);
  assert.equal(stopped.state.running, false);
  assert.equal(stopped.state.exitCode, 0);
  await engine.stopContainer(trapped, 30); // stopping a stopped container is fine

  // httpd as the program ignores SIGTERM as PID 1; with Init it runs under an init that
  // passes SIGTERM on, so it dies of the signal (143), not of SIGKILL (137).
  const bare = await runContainer(
    t,
    engine,
    echoSpec(uniqueName("init"), { command: ["httpd", "-f", "-p", "8080", "-h", "/www"] }),
  );
  await engine.stopContainer(bare, 30);
  assert.equal((await engine.inspectContainer(bare)).state.exitCode, 143);
});

test("the exit image exits with code 3", async (t) => {
  const engine = engineFor(env().dockerHost);
  const id = await runContainer(t, engine, {
    image: images.exit,
    labels: { [LABELS.instance]: uniqueName("exit"), [RUN_LABEL]: runId },
  });
  const info = await waitFor("the container to exit", async () => {
    const current = await engine.inspectContainer(id);
    return current.state.status === "exited" ? current : undefined;
  });
  assert.equal(info.state.exitCode, 3);
});

test("listContainers returns only containers carrying Berth's label", async (t) => {
  const engine = engineFor(env().dockerHost);
  const instance = uniqueName("list");
  const managed = await createForTest(t, engine, echoSpec(instance));
  const unlabelled = await run(DEBIAN_DOCKER, [
    "-H",
    env().dockerHost,
    "create",
    "--label",
    `${LABELS.instance}=${instance}`,
    "--label",
    `${RUN_LABEL}=${runId}`,
    images.echo,
  ]);
  assert.equal(unlabelled.code, 0, unlabelled.stderr);
  const unlabelledId = unlabelled.stdout.trim();
  t.after(async () => {
    await run(DEBIAN_DOCKER, ["-H", env().dockerHost, "rm", "-f", unlabelledId]);
  });
  const listed = await engine.listContainers({ [LABELS.instance]: instance });
  assert.deepEqual(
    listed.map((c) => c.id),
    [managed],
  );
  assert.equal(listed[0]?.state, "created");
  assert.equal(await engine.removeContainer(managed, { force: true }), true);
  assert.equal(await engine.removeContainer(managed, { force: true }), false);
  assert.deepEqual(await engine.listContainers({ [LABELS.instance]: instance }), []);
});

test("events report start, die and destroy of Berth's containers", async (t) => {
  const engine = engineFor(env().dockerHost);
  const controller = new AbortController();
  t.after(() => controller.abort());
  const events = engine.events({ signal: controller.signal });
  const seen: EngineEvent[] = [];
  const instance = uniqueName("events");
  // Connect first, then act: the stream reports only what happens after it opened.
  const reading = (async () => {
    for await (const event of events) {
      if (event.type === "container" && event.labels[LABELS.instance] !== instance) continue;
      seen.push(event);
      if (event.type === "container" && event.action === "destroy") return;
    }
  })();
  await waitFor("the event stream to connect", async () => {
    const id = await engine.createContainer({
      image: images.exit,
      labels: { [LABELS.instance]: instance, [RUN_LABEL]: runId },
    });
    await engine.startContainer(id);
    await waitFor("exit", async () => (await engine.inspectContainer(id)).state.status === "exited");
    await engine.removeContainer(id, { force: true });
    await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 3000))]);
    return seen.some((e) => e.type === "container" && e.action === "destroy");
  });
  await reading;
  const byAction = new Map(seen.flatMap((e) => (e.type === "container" ? [[e.action, e] as const] : [])));
  assert.ok(byAction.has("start"));
  assert.equal(byAction.get("die")?.exitCode, 3);
  assert.equal(byAction.get("destroy")?.labels[LABELS.managedBy], "berth");
});

test("image events report a tag and its removal, and the stream says when it is open", async (t) => {
  const engine = engineFor(env().dockerHost);
  const controller = new AbortController();
  t.after(() => controller.abort());
  const tag = `berth-test/image-events:${runId}`;
  t.after(async () => {
    await run(DEBIAN_DOCKER, ["rmi", tag], { env: { ...process.env, DOCKER_HOST: env().dockerHost } });
  });
  let connected = 0;
  const actions: string[] = [];
  const events = engine.imageEvents({ signal: controller.signal, onConnected: () => connected++ });
  const reading = (async () => {
    for await (const event of events) {
      if (event.type !== "image") continue;
      actions.push(event.action);
      if (event.action === "untag") return;
    }
  })();
  await waitFor("the image event stream to open", async () => connected > 0);
  const docker = (args: string[]) =>
    run(DEBIAN_DOCKER, args, { env: { ...process.env, DOCKER_HOST: env().dockerHost } });
  assert.equal((await docker(["tag", images.echo, tag])).code, 0);
  assert.equal((await docker(["rmi", tag])).code, 0);
  await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  assert.ok(actions.includes("tag"), `a tag event among ${actions.join(", ")}`);
  assert.ok(actions.includes("untag"), `an untag event among ${actions.join(", ")}`);
});

test("buildImage returns the image id, and a failing step is a BuildFailedError", async (t) => {
  const engine = engineFor(env().dockerHost);
  const dir = await mkdtemp(join(tmpdir(), "berth-build-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tag = `berth-test/built-${runId}:1`;
  t.after(async () => {
    await run(DEBIAN_DOCKER, ["-H", env().dockerHost, "rmi", "-f", tag]);
  });
  await writeFile(
    join(dir, "Containerfile"),
    `FROM ${images.echo}\nARG GREETING\nRUN echo "$GREETING" > /greeting\n`,
  );
  const lines: string[] = [];
  const id = await engine.buildImage({
    context: dir,
    containerFile: "Containerfile",
    tags: [tag],
    buildArgs: { GREETING: "hi" },
    labels: { [RUN_LABEL]: runId },
    onOutput: (line) => lines.push(line),
  });
  assert.match(id, /^(sha256:)?[0-9a-f]{12,64}$/);
  assert.ok(lines.some((line) => /^Step 1\/\d+ : FROM /.test(line)));
  const built = await engine.inspectImage(tag);
  assert.equal(built.labels[RUN_LABEL], runId);

  await writeFile(join(dir, "Containerfile"), `FROM ${images.echo}\nRUN echo about to fail && exit 3\n`);
  const err = await engine.buildImage({ context: dir, containerFile: "Containerfile", tags: [tag] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof BuildFailedError, `BuildFailedError, got ${String(err)}`);
  assert.match(err.step ?? "", /^Step 2\/2 : RUN echo about to fail/);
  assert.ok(err.lastLines.includes("about to fail"));
});

test("calls time out against an engine that accepts and never answers", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "berth-silent-"));
  const socketPath = join(dir, "silent.sock");
  const held: Array<{ destroy(): void }> = [];
  const server: Server = createNetServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  const observer = recordingObserver();
  const engine = new DockerEngine({ url: `unix://${socketPath}`, timeouts: { requestMs: 300 }, observer });
  await assert.rejects(engine.ping(), (e: unknown) => e instanceof DockerTimeoutError && e.timeoutMs === 300);
  await assert.rejects(engine.listContainers(), DockerTimeoutError);
  await assert.rejects(engine.inspectImage(images.echo), DockerTimeoutError);
  assert.deepEqual(
    observer.seen.map((o) => o.errorReason),
    ["DockerTimeout", "DockerTimeout", "DockerTimeout"],
  );

  const gone = new DockerEngine({ url: `unix://${join(dir, "missing.sock")}`, observer });
  await assert.rejects(gone.ping(), EngineUnreachableError);
});

test("operations are recorded in the process metrics by default", async () => {
  const engine = engineFor(env().dockerHost);
  await engine.ping();
  const text = await registry.getSingleMetricAsString("berth_docker_operation_duration_seconds");
  assert.match(text, /berth_docker_operation_duration_seconds_count\{operation="ping"\} [1-9]/);
});

test("a second engine from hack/engines.sh publishes on its own loopback address", async (t) => {
  const engineNumber = 42;
  const wasRunning = (await run("bash", ["hack/engines.sh", "status"])).stdout.includes(
    `engine ${engineNumber}: running`,
  );
  const started = await run("bash", ["hack/engines.sh", "start", String(engineNumber)], {
    timeoutMs: 60_000,
  });
  assert.equal(started.code, 0, started.stderr);
  const socket = started.stdout.trim().split("\n").at(-1) ?? "";
  const engine = engineFor(`unix://${socket}`);
  const created: string[] = [];
  // One hook, in order: the containers go before the engine does.
  t.after(async () => {
    for (const id of created) await engine.removeContainer(id, { force: true });
    if (!wasRunning)
      await run("bash", ["hack/engines.sh", "stop", String(engineNumber)], { timeoutMs: 90_000 });
  });
  const loaded = await run("bash", ["hack/engines.sh", "load-images", String(engineNumber)], {
    timeoutMs: 120_000,
  });
  assert.equal(loaded.code, 0, loaded.stderr);

  const instance = uniqueName("second");
  const id = await engine.createContainer(echoSpec(instance));
  created.push(id);
  await engine.startContainer(id);
  const info = await engine.inspectContainer(id);
  const binding = info.ports.find((p) => p.containerPort === 8080);
  assert.equal(binding?.hostIp, `127.0.0.${engineNumber}`);
  const response = await waitFor("the container on the second engine to answer", async () => {
    const got = await httpGet(`http://127.0.0.${engineNumber}:${binding?.hostPort}/`);
    return got?.status === 200 ? got : undefined;
  });
  assert.equal(response.body, `${instance}\n`);
  // The default engine does not see it: engines are separate machines to Berth.
  const onDefault = await engineFor(env().dockerHost).listContainers({ [LABELS.instance]: instance });
  assert.deepEqual(onDefault, []);
});
