/**
 * A client of Berth's registry API for plain Node services: lookup, watch (blocking
 * queries), self-registration with heartbeats, and client-side load balancing. It depends
 * on nothing but Node itself (global fetch), not on a Kubernetes client.
 */
import { RoundRobin, type BalancerOptions } from "./balancer.js";
import { RegistryError, type ServiceInstances } from "./types.js";

export interface RegistryClientOptions {
  /**
   * The registry's URL, such as http://berth-registry.berth-system:9470, or the URLs of
   * several replicas: a request that gets no answer (or a 5xx) sends the next request to the
   * next URL, so a watch resumes on another replica when the one it was parked on dies.
   */
  url: string | readonly string[];
  /** The namespace of the services; "default" when absent. */
  namespace?: string;
  /**
   * A bearer token, or a function returning one (read again for every request, so a
   * projected ServiceAccount token file that rotates is picked up).
   */
  token?: string | (() => string | Promise<string>);
  /** Longest wait of one blocking query. Default 5 minutes (the server caps it too). */
  waitMs?: number;
  /** Backoff after a failed request while watching: doubling from 500 ms up to this. Default 30 s. */
  maxBackoffMs?: number;
  /** Load balancing of pick() and fetch(). */
  balancer?: BalancerOptions;
}

export interface LookupOptions {
  /** List not-ready instances too, with their reason. */
  includeAll?: boolean;
  signal?: AbortSignal;
}

export interface Registration {
  url: string;
  /** Within the registry's bounds; its default when absent. */
  ttlSeconds?: number;
  metadata?: Record<string, string>;
}

export interface RegistrationHandle {
  /** The Instance name the registry gave (a new one after a re-registration). */
  readonly name: string;
  readonly ttlSeconds: number;
  /** Stops heartbeating and deregisters. */
  close(): Promise<void>;
}

/** Requests that may be sent twice: fetch() retries these once on another instance. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

interface Followed {
  balancer: RoundRobin;
  ready: Promise<void>;
  abort: AbortController;
}

export class RegistryClient {
  private readonly bases: string[];
  /** The replica requests go to: the next one after a request to it failed. */
  private current = 0;
  private readonly namespace: string;
  private readonly followed = new Map<string, Followed>();

  constructor(private readonly options: RegistryClientOptions) {
    const urls = typeof options.url === "string" ? [options.url] : [...options.url];
    if (urls.length === 0) throw new Error("url: at least one registry URL is needed");
    this.bases = urls.map((url) => url.replace(/\/+$/, ""));
    this.namespace = options.namespace ?? "default";
  }

  /** The service's ready instances now (all of them with includeAll). */
  async lookup(slug: string, options: LookupOptions = {}): Promise<ServiceInstances> {
    const query = options.includeAll ? "?include=all" : "";
    return await this.getService(slug, query, options.signal);
  }

  /**
   * Every change of the service, in order, as blocking queries see it: the current list
   * first, then a new list whenever the service changes. A failed request is retried with
   * backoff; as each answer is the whole current list with its index, a reconnect never
   * loses a change (changes that happened while disconnected arrive as one new list).
   * Ends when the signal aborts.
   */
  async *watch(slug: string, options: LookupOptions = {}): AsyncGenerator<ServiceInstances> {
    const { signal } = options;
    const include = options.includeAll ? "&include=all" : "";
    const waitSeconds = Math.max(1, Math.round((this.options.waitMs ?? 300_000) / 1000));
    let index = 0;
    let failures = 0;
    while (!signal?.aborted) {
      let answer: ServiceInstances;
      try {
        const query = index === 0 ? `?${include.slice(1)}` : `?index=${index}&wait=${waitSeconds}s${include}`;
        answer = await this.getService(slug, query === "?" ? "" : query, signal, waitSeconds * 1000 + 30_000);
        failures = 0;
      } catch (err) {
        if (signal?.aborted) return;
        if (err instanceof RegistryError && err.status >= 400 && err.status < 500 && err.status !== 429)
          throw err;
        failures++;
        await sleep(this.backoff(failures), signal);
        continue;
      }
      if (answer.index < index) {
        // A registry that restarted against another cluster: start over, as Consul clients do.
        index = 0;
        continue;
      }
      if (answer.index > index) {
        index = answer.index;
        yield answer;
      }
    }
  }

  /**
   * Registers an external instance and heartbeats it every third of its TTL until close().
   * When the registry lost it (expired and deleted while this process could not reach it),
   * the next heartbeat registers it again.
   */
  async register(slug: string, registration: Registration): Promise<RegistrationHandle> {
    const path = `${this.servicePath(slug)}/instances`;
    const first = await this.request<{ name: string; ttlSeconds: number }>("POST", path, registration);
    let name = first.name;
    const ttlSeconds = first.ttlSeconds;
    let closed = false;
    let beating: Promise<void> = Promise.resolve();
    const beat = async (): Promise<void> => {
      try {
        await this.request("PUT", `${path}/${encodeURIComponent(name)}/heartbeat`);
      } catch (err) {
        if (closed) return;
        if (err instanceof RegistryError && err.status === 404) {
          name = (await this.request<{ name: string }>("POST", path, registration)).name;
        }
        // Any other failure: the next beat tries again, well within the TTL.
      }
    };
    const timer = setInterval(
      () => {
        beating = beating.then(beat).catch(() => undefined);
      },
      Math.max(250, (ttlSeconds * 1000) / 3),
    );
    timer.unref();
    return {
      get name() {
        return name;
      },
      ttlSeconds,
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        await beating;
        try {
          await this.request("DELETE", `${path}/${encodeURIComponent(name)}`);
        } catch (err) {
          if (!(err instanceof RegistryError && err.status === 404)) throw err;
        }
      },
    };
  }

  /**
   * The next ready instance's URL, round-robin over the watched list, skipping addresses
   * that failed recently. The first call for a slug looks it up and starts watching it.
   */
  async pick(slug: string): Promise<string | undefined> {
    const followed = await this.follow(slug);
    return followed.balancer.pick()?.url ?? undefined;
  }

  /**
   * fetch() against one instance of the service: `path` is appended to its URL. When the
   * connection fails, the address is skipped for a while and an idempotent request (GET,
   * HEAD, OPTIONS, PUT, DELETE) is tried once more on another instance.
   */
  async fetch(slug: string, path: string, init: RequestInit = {}): Promise<Response> {
    const followed = await this.follow(slug);
    const method = (init.method ?? "GET").toUpperCase();
    const tried = new Set<string>();
    for (;;) {
      const instance = followed.balancer.pick(tried);
      if (!instance?.url) {
        throw new RegistryError(503, `no ready instance of "${slug}" left to try (${tried.size} failed)`);
      }
      const url = instance.url;
      tried.add(url);
      let response: Response;
      try {
        response = await fetch(`${url.replace(/\/+$/, "")}${path}`, init);
      } catch (err) {
        if (init.signal?.aborted) throw err;
        followed.balancer.connectionFailed(url);
        if (IDEMPOTENT.has(method) && tried.size < 2) continue;
        throw err;
      }
      if (response.status >= 500) followed.balancer.answerFailed(url);
      else followed.balancer.succeeded(url);
      return response;
    }
  }

  /** Stops the watches that pick() and fetch() started. */
  close(): void {
    for (const followed of this.followed.values()) followed.abort.abort();
    this.followed.clear();
  }

  private async follow(slug: string): Promise<Followed> {
    let followed = this.followed.get(slug);
    if (!followed) {
      const balancer = new RoundRobin(this.options.balancer);
      const abort = new AbortController();
      let markReady: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => (markReady = resolve));
      followed = { balancer, ready, abort };
      this.followed.set(slug, followed);
      void (async () => {
        try {
          for await (const answer of this.watch(slug, { signal: abort.signal })) {
            balancer.update(answer.instances);
            markReady();
          }
        } catch {
          // A 4xx (not allowed, bad slug): pick() finds nothing; lookup() says why.
        } finally {
          markReady();
        }
      })();
    }
    await followed.ready;
    return followed;
  }

  private servicePath(slug: string): string {
    return `/v1/namespaces/${encodeURIComponent(this.namespace)}/services/${encodeURIComponent(slug)}`;
  }

  private async getService(
    slug: string,
    query: string,
    signal?: AbortSignal,
    timeoutMs = 30_000,
  ): Promise<ServiceInstances> {
    const res = await this.send("GET", `${this.servicePath(slug)}${query}`, undefined, signal, timeoutMs);
    const index = Number(res.headers.get("x-berth-index") ?? "0");
    if (res.status === 404) {
      await res.body?.cancel();
      return { slug, namespace: this.namespace, index, instances: [], found: false };
    }
    const body = (await this.parse(res)) as Omit<ServiceInstances, "found">;
    return { ...body, index: Math.max(index, body.index), found: true };
  }

  private async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.parse(await this.send(method, path, body))) as T;
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    timeoutMs = 30_000,
  ): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = typeof this.options.token === "function" ? await this.options.token() : this.options.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const timeout = AbortSignal.timeout(timeoutMs);
    const replica = this.current;
    let res: Response;
    try {
      res = await fetch(`${this.bases[replica]}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (!signal?.aborted) this.failedOver(replica);
      throw err;
    }
    if (res.status >= 500) this.failedOver(replica);
    return res;
  }

  /** The replica at `replica` failed a request: the next request goes to the next one. */
  private failedOver(replica: number): void {
    // Concurrent requests that failed on the same replica move on once, not once each.
    if (this.current === replica) this.current = (replica + 1) % this.bases.length;
  }

  private async parse(res: Response): Promise<unknown> {
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.ok) return parsed;
    const error = (parsed as { error?: { message?: string; field?: string } } | undefined)?.error;
    throw new RegistryError(res.status, error?.message ?? `HTTP ${res.status}`, error?.field);
  }

  private backoff(failures: number): number {
    const base = Math.min(this.options.maxBackoffMs ?? 30_000, 500 * 2 ** (failures - 1));
    return base / 2 + Math.random() * (base / 2);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
