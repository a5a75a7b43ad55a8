/**
 * The HTTP side of the REST client: one keep-alive agent with one secure context built from
 * the kubeconfig's TLS, its auth (client-node reads both), a timeout per request, the API
 * server's answer read back as JSON or as a KubeApiError, and every request told to an
 * observer (the binary passes client-go's request metrics).
 */
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
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

/**
 * The agent every request goes through. An https one is given one secure context, built
 * once: given the PEM strings instead, it parsed the key and certificates into a new one for
 * every connection it opened (a burst opens many). Verification is the same either way: the
 * context holds the kubeconfig's CA (the system's when it names none) and the server's
 * certificate must chain to it, unless the kubeconfig says insecure-skip-tls-verify.
 */
function keepAliveAgent(kc: KubeConfig, options: https.RequestOptions): http.Agent {
  const cluster = kc.getCurrentCluster();
  if (!(cluster?.server ?? "").startsWith("https:")) return new http.Agent({ keepAlive: true });
  const secureContext = tls.createSecureContext({
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.cert ? { cert: options.cert } : {}),
    ...(options.key ? { key: options.key } : {}),
    ...(options.pfx ? { pfx: options.pfx } : {}),
    ...(options.passphrase ? { passphrase: options.passphrase } : {}),
  });
  return new https.Agent({
    keepAlive: true,
    secureContext,
    rejectUnauthorized: cluster?.skipTLSVerify ? false : (options.rejectUnauthorized ?? true),
    servername: cluster?.tlsServerName ?? options.servername ?? undefined,
  });
}

/** Whether the user's credentials come from an exec plugin or an auth provider (a token file, OIDC): asked per request. */
function credentialsMayChange(kc: KubeConfig): boolean {
  const user = kc.getCurrentUser();
  return Boolean(user?.exec || user?.authProvider);
}

export class KubeTransport {
  private connection:
    { agent: http.Agent; fixed?: Pick<https.RequestOptions, "headers" | "auth"> } | undefined;

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

  /**
   * The one keep-alive agent, with its TLS, and the headers and auth of every request. The
   * kubeconfig is asked once: its TLS material never changed after the first request anyway
   * (the agent kept it), and its credentials are asked again per request only when a plugin
   * or a token file may change them. Each ask read the key and certificates again and made an
   * agent that was thrown away.
   */
  async requestOptions(): Promise<https.RequestOptions> {
    const known = this.connection;
    if (known?.fixed) return { ...known.fixed, agent: known.agent };
    const options: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    const credentials = { headers: options.headers, auth: options.auth };
    // Requests that started together all waited above: the first to get here makes the agent.
    const connection = this.connection ?? {
      agent: keepAliveAgent(this.kc, options),
      ...(credentialsMayChange(this.kc) ? {} : { fixed: credentials }),
    };
    this.connection = connection;
    return { ...credentials, agent: connection.agent };
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
