import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Clock } from "./clock.js";
import { realClock, withDeadline } from "./clock.js";
import type { Logger } from "./log.js";
import { errorFields, nullLogger } from "./log.js";
import { registry as defaultRegistry } from "./metrics.js";

/** A health check passes by returning; it fails by throwing (the message is shown). */
export type Check = () => Promise<void> | void;

export interface ProbeServerOptions {
  /** Bind address; loopback unless told otherwise (in a cluster, the manifests set 0.0.0.0). */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  registry?: Registry;
  logger?: Logger;
  /** A check that takes longer than this fails. */
  checkTimeoutMs?: number;
  clock?: Clock;
}

/** Serves /metrics, /healthz and /readyz (add ?verbose for per-check lines). */
export class ProbeServer {
  private readonly healthz = new Map<string, Check>();
  private readonly readyz = new Map<string, Check>();
  private server: http.Server | undefined;
  private readonly log: Logger;
  private readonly registry: Registry;
  private shuttingDown = false;

  constructor(private readonly options: ProbeServerOptions) {
    this.log = (options.logger ?? nullLogger).child({ component: "probe-server" });
    this.registry = options.registry ?? defaultRegistry;
  }

  addHealthzCheck(name: string, check: Check): void {
    this.healthz.set(name, check);
  }

  addReadyzCheck(name: string, check: Check): void {
    this.readyz.set(name, check);
  }

  /** From now on /readyz fails, so a load balancer stops sending work during shutdown. */
  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async start(): Promise<{ host: string; port: number }> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error("probe request failed", errorFields(err));
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port, this.options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    this.log.info("serving metrics and probes", { host: address.address, port: address.port });
    return { host: address.address, port: address.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://probe");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    switch (url.pathname) {
      case "/metrics": {
        const body = await this.registry.metrics();
        res.writeHead(200, { "Content-Type": this.registry.contentType }).end(body);
        return;
      }
      case "/healthz":
      case "/livez":
        await this.respond(res, this.healthz, url.searchParams.has("verbose"), false);
        return;
      case "/readyz":
        await this.respond(res, this.readyz, url.searchParams.has("verbose"), this.shuttingDown);
        return;
      default:
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
    }
  }

  private async respond(
    res: http.ServerResponse,
    checks: Map<string, Check>,
    verbose: boolean,
    shuttingDown: boolean,
  ): Promise<void> {
    const lines: string[] = [];
    let ok = true;
    if (shuttingDown) {
      ok = false;
      lines.push("[-]shutdown failed: shutting down");
    }
    for (const [name, check] of checks) {
      const problem = await this.runCheck(check);
      if (problem === undefined) lines.push(`[+]${name} ok`);
      else {
        ok = false;
        lines.push(`[-]${name} failed: ${problem}`);
      }
    }
    const summary = ok ? "ok" : "failed";
    const body = verbose || !ok ? `${lines.join("\n")}\n${summary}\n` : `${summary}\n`;
    res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain; charset=utf-8" }).end(body);
  }

  private async runCheck(check: Check): Promise<string | undefined> {
    const timeoutMs = this.options.checkTimeoutMs ?? 5_000;
    try {
      await withDeadline(
        this.options.clock ?? realClock,
        timeoutMs,
        Promise.resolve().then(check),
        () => new Error(`timed out after ${timeoutMs} ms`),
      );
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
}
