/**
 * One health check against the world: the target a check resolves to (the node address and
 * the published port, or the container for exec) and the http, tcp or exec check itself.
 * A failure is an outcome, never a throw. prober.ts runs these in loops.
 */
import net from "node:net";
import http from "node:http";
import type { HealthCheck } from "../api/types.js";
import { errorFields } from "../runtime/log.js";

/** A health check with every default applied and its target resolved to a host:port. */
export interface ProbeTarget {
  type: "http" | "tcp" | "exec";
  /** Where http/tcp checks connect (the node address and the published port). */
  host: string;
  port: number;
  path: string;
  /** The HTTP status wanted; any 2xx or 3xx when absent. */
  expectedStatus?: number;
  command: string[];
  /** The container the check is for; exec checks run in it. */
  containerId: string;
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
  initialDelayMs: number;
}

export interface ProbeOutcome {
  ok: boolean;
  /** What the check saw, for a person: goes into the Ready condition's message. */
  message: string;
}

/** Runs a command in a container and reports its exit code; the Docker part the exec check needs. */
export type ExecInContainer = (containerId: string, command: string[], timeoutMs: number) => Promise<number>;

/**
 * The probe target for a health check: defaults as the API documents them; without a
 * health check, a TCP connect to the service port.
 */
export function probeTargetFor(
  check: HealthCheck | undefined,
  where: { host: string; port: number; containerId: string },
): ProbeTarget {
  const seconds = (value: number | undefined, fallback: number): number => (value ?? fallback) * 1000;
  return {
    type: check?.type ?? "tcp",
    host: where.host,
    port: where.port,
    path: check?.path ?? "/",
    ...(check?.expectedStatus !== undefined ? { expectedStatus: check.expectedStatus } : {}),
    command: check?.command ?? [],
    containerId: where.containerId,
    intervalMs: seconds(check?.intervalSeconds, 10),
    timeoutMs: seconds(check?.timeoutSeconds, 1),
    failureThreshold: check?.failureThreshold ?? 3,
    successThreshold: check?.successThreshold ?? 1,
    initialDelayMs: seconds(check?.initialDelaySeconds, 0),
  };
}

/** Runs one check against the world. Never throws: a failure is an outcome. */
export async function runProbe(target: ProbeTarget, exec: ExecInContainer): Promise<ProbeOutcome> {
  try {
    switch (target.type) {
      case "tcp":
        return await tcpProbe(target.host, target.port, target.timeoutMs);
      case "http":
        return await httpProbe(target);
      case "exec": {
        const code = await exec(target.containerId, target.command, target.timeoutMs);
        return code === 0
          ? { ok: true, message: "health check command exited with 0" }
          : { ok: false, message: `health check command exited with ${code}` };
      }
    }
  } catch (err) {
    return { ok: false, message: `${target.type} health check failed: ${errorFields(err).error as string}` };
  }
}

function hostForUrl(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (outcome: ProbeOutcome): void => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () =>
      finish({
        ok: false,
        message: `TCP connect to ${hostForUrl(host)}:${port} timed out after ${timeoutMs} ms`,
      }),
    );
    socket.once("connect", () =>
      finish({ ok: true, message: `TCP connect to ${hostForUrl(host)}:${port} succeeded` }),
    );
    socket.once("error", (err) =>
      finish({ ok: false, message: `TCP connect to ${hostForUrl(host)}:${port} failed: ${err.message}` }),
    );
  });
}

function httpProbe(target: ProbeTarget): Promise<ProbeOutcome> {
  const url = `http://${hostForUrl(target.host)}:${target.port}${target.path}`;
  const wanted = target.expectedStatus !== undefined ? String(target.expectedStatus) : "2xx or 3xx";
  return new Promise((resolve) => {
    // A fresh connection per check (no keep-alive): a check must see the server as a new client does.
    const req = http.get(url, {
      agent: false,
      timeout: target.timeoutMs,
      headers: { "User-Agent": "berth-probe" },
    });
    req.once("response", (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const ok =
        target.expectedStatus !== undefined
          ? status === target.expectedStatus
          : status >= 200 && status < 400;
      resolve({ ok, message: `GET ${url} answered ${status}${ok ? "" : `, want ${wanted}`}` });
    });
    req.once("timeout", () => req.destroy(new Error(`timed out after ${target.timeoutMs} ms`)));
    req.once("error", (err) => resolve({ ok: false, message: `GET ${url} failed: ${err.message}` }));
  });
}
