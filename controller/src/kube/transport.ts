/**
 * The HTTP side of the REST client: one keep-alive agent with the kubeconfig's TLS and auth
 * (client-node applies them), a timeout per request, the API server's answer read back as
 * JSON or as a KubeApiError, and every request told to an observer (the binary passes
 * client-go's request metrics).
 */
import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ApiStatus } from "./errors.js";
import { KubeApiError } from "./errors.js";

/** One finished request: a watch is one request, finished when the server answered it. */
export interface FinishedRequest {
  method: string;
  /** host:port of the API server. */
  host: string;
  /** The HTTP status code, or `<error>` when no answer came (as client-go writes it). */
  code: string;
  durationSeconds: number;
}

/** Watches the client's requests without the client knowing what is done with them. */
export interface RequestObserver {
  requestDone(request: FinishedRequest): void;
}

/** The `code` label of a request that got no HTTP answer, as client-go writes it. */
export const ERROR_CODE = "<error>";

/** Longest part of a non-JSON error answer quoted in the error. */
const QUOTED_ANSWER_CHARACTERS = 200;

/**
 * An answer of the API server: the parsed JSON of a 2xx (undefined when empty or not JSON),
 * else a KubeApiError with the Status the server sent, or the start of what it sent.
 */
export function readAnswer(
  what: string,
  status: number,
  text: string,
): { value: unknown } | { error: KubeApiError } {
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (status >= 200 && status < 300) return { value: parsed };
  const apiStatus = parsed as ApiStatus | undefined;
  const message = apiStatus?.message ?? (text.slice(0, QUOTED_ANSWER_CHARACTERS) || `HTTP ${status}`);
  return { error: new KubeApiError(status, `${what}: ${message}`, apiStatus) };
}

/** The headers of a request: JSON, and what client-node put there (a bearer token, an exec plugin's output). */
export function requestHeaders(options: https.RequestOptions): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = { Accept: "application/json" };
  if (options.headers && !Array.isArray(options.headers)) Object.assign(headers, options.headers);
  return headers;
}

export class KubeTransport {
  private agent: http.Agent | undefined;

  constructor(
    private readonly kc: KubeConfig,
    readonly requestTimeoutMs: number,
    private readonly observer: RequestObserver | undefined,
  ) {}

  /** The URL of `path` (with its query) on the current cluster's server. */
  url(path: string): URL {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("no current cluster in the kubeconfig");
    return new URL(cluster.server.replace(/\/$/, "") + path);
  }

  /** Tells the observer of one finished request. */
  recordRequest(method: string, host: string, code: number | string, startedAt: number): void {
    const durationSeconds = (performance.now() - startedAt) / 1000;
    this.observer?.requestDone({ method, host, code: String(code), durationSeconds });
  }

  /** TLS, auth and the one keep-alive agent, as client-node gives them for the current cluster. */
  async requestOptions(): Promise<https.RequestOptions> {
    const options: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    // client-node builds a fresh agent per call; keep one keep-alive agent for all requests.
    if (!this.agent) {
      const cluster = this.kc.getCurrentCluster();
      const isHttps = (cluster?.server ?? "").startsWith("https:");
      this.agent = isHttps
        ? new https.Agent({
            keepAlive: true,
            ca: options.ca,
            cert: options.cert,
            key: options.key,
            pfx: options.pfx,
            passphrase: options.passphrase,
            rejectUnauthorized: cluster?.skipTLSVerify ? false : (options.rejectUnauthorized ?? true),
            servername: cluster?.tlsServerName ?? options.servername ?? undefined,
          })
        : new http.Agent({ keepAlive: true });
    }
    options.agent = this.agent;
    return options;
  }

  /** One request; resolves to the parsed JSON answer of a 2xx, rejects with a KubeApiError otherwise. */
  async request(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
    const url = this.url(path);
    const options = await this.requestOptions();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = requestHeaders(options);
    if (payload) {
      headers["Content-Type"] = contentType ?? "application/json";
      headers["Content-Length"] = payload.length;
    }
    const send = url.protocol === "https:" ? https.request : http.request;
    const startedAt = performance.now();
    let recorded = false;
    const record = (code: number | string): void => {
      if (recorded) return;
      recorded = true;
      this.recordRequest(method, url.host, code, startedAt);
    };
    return await new Promise<unknown>((resolve, reject) => {
      const req = send(
        url,
        { method, headers, agent: options.agent, auth: options.auth, timeout: this.requestTimeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", (err) => {
            record(ERROR_CODE);
            reject(err);
          });
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            record(status);
            const answer = readAnswer(
              `${method} ${url.pathname}`,
              status,
              Buffer.concat(chunks).toString("utf8"),
            );
            if ("error" in answer) reject(answer.error);
            else resolve(answer.value);
          });
        },
      );
      req.on("timeout", () =>
        req.destroy(new KubeApiError(0, `${method} ${url.pathname}: request timed out`)),
      );
      req.on("error", (err) => {
        record(ERROR_CODE);
        reject(
          err instanceof KubeApiError
            ? err
            : new KubeApiError(0, `${method} ${url.pathname}: ${err.message}`),
        );
      });
      req.end(payload);
    });
  }
}
