/**
 * The two baselines of `npm run bench`, each starting the same container Berth starts (the
 * echo image, an init process, port 8080 published on 127.0.0.1 at a port the engine picks)
 * and timed from just before the first request to the first HTTP 200 on the published port:
 *
 * - `docker run`: the CLI (`docker run -d`, then `docker port`), as a person would;
 * - the Engine API: create, start and inspect through dockerode, no CLI process, no Berth
 *   code in between: the floor any controller on this engine can reach.
 *
 * Both wait for the answer the same way Berth's clients are waited for (waitForAnswer).
 */
import { execFile } from "node:child_process";
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import Docker from "dockerode";
import { parseEngineUrl } from "../../controller/src/docker/url.js";

const run = promisify(execFile);

export const IMAGE = "berth-test/echo:1";
export const READY_TIMEOUT_MS = 180_000;
/** How often a new attempt starts while waiting for an answer. */
const POLL_INTERVAL_MS = 20;

/** One GET on a fresh connection: true on HTTP 200. */
function answersOnce(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode === 200));
      res.once("error", () => resolve(false));
    });
    req.once("timeout", () => req.destroy(new Error("timeout")));
    req.once("error", () => resolve(false));
  });
}

/**
 * Resolves at the first HTTP 200 from url. A new attempt starts every POLL_INTERVAL_MS
 * without waiting for the ones in flight: a connection to a port published a moment ago can
 * stall for about a second inside docker-proxy, and one attempt at a time would time that
 * stall, not the moment the server answers.
 */
export async function waitForAnswer(url: string, what: string): Promise<number> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  let answeredAt: number | undefined;
  const inFlight = new Set<Promise<void>>();
  while (answeredAt === undefined) {
    if (performance.now() > deadline) throw new Error(`${what}: ${url} never answered`);
    const attempt: Promise<void> = answersOnce(url, 2000).then((ok) => {
      if (ok) answeredAt ??= performance.now();
      inFlight.delete(attempt);
    });
    inFlight.add(attempt);
    await Promise.race([sleep(POLL_INTERVAL_MS), attempt]);
  }
  await Promise.all(inFlight);
  return answeredAt;
}

/** Times of one baseline container, each from just before its first request (ms). */
export interface BaselineSample {
  /** Until the container is running (create and start returned). */
  started: number;
  /** The engine's create and start requests alone (ms), where the baseline sends them itself. */
  engine?: { create: number; start: number };
  /** Until its published port answered HTTP 200. */
  answers: number;
}

export interface Baseline {
  name: string;
  /** Starts one container labelled `label` and waits for its answer. */
  once(label: string): Promise<BaselineSample>;
  /** Removes every container labelled `label`. */
  cleanup(label: string): Promise<void>;
}

export function dockerRunBaseline(): Baseline {
  return {
    name: "docker run",
    async once(label) {
      const t0 = performance.now();
      const { stdout } = await run("docker", [
        "run",
        "-d",
        "--init",
        "--label",
        label,
        "-p",
        "127.0.0.1::8080",
        IMAGE,
      ]);
      const started = performance.now() - t0;
      const id = stdout.trim();
      const { stdout: port } = await run("docker", ["port", id, "8080/tcp"]);
      const url = `http://${port.split("\n")[0]!.trim()}/`;
      return { started, answers: (await waitForAnswer(url, `docker run ${id}`)) - t0 };
    },
    async cleanup(label) {
      const { stdout } = await run("docker", ["ps", "-aq", "--filter", `label=${label}`]);
      const ids = stdout.split("\n").filter(Boolean);
      if (ids.length > 0) await run("docker", ["rm", "-f", ...ids]);
    },
  };
}

export function engineApiBaseline(engineUrl: string): Baseline {
  const address = parseEngineUrl(engineUrl);
  const docker = new Docker(
    address.kind === "socket"
      ? { socketPath: address.socketPath }
      : { host: address.host, port: address.port, protocol: address.protocol },
  );
  const splitLabel = (label: string): [string, string] => {
    const at = label.indexOf("=");
    return [label.slice(0, at), label.slice(at + 1)];
  };
  return {
    name: "engine API",
    async once(label) {
      const t0 = performance.now();
      const [labelKey, labelValue] = splitLabel(label);
      const container = await docker.createContainer({
        Image: IMAGE,
        Labels: { [labelKey]: labelValue },
        ExposedPorts: { "8080/tcp": {} },
        HostConfig: { Init: true, PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
      });
      const createdAt = performance.now();
      await container.start();
      const started = performance.now() - t0;
      const engine = { create: createdAt - t0, start: t0 + started - createdAt };
      const info = await container.inspect();
      const port = info.NetworkSettings.Ports["8080/tcp"]?.[0]?.HostPort;
      if (!port) throw new Error(`engine API: container ${container.id} published no port`);
      const url = `http://127.0.0.1:${port}/`;
      return { started, engine, answers: (await waitForAnswer(url, `engine API ${container.id}`)) - t0 };
    },
    async cleanup(label) {
      const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
      await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    },
  };
}
