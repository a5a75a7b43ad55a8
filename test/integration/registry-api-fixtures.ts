/**
 * Fixtures for the registry's tests against the real API server: the registry role
 * in-process (on a free loopback port), ServiceAccounts with real tokens and real RBAC, and
 * a small HTTP helper that returns status, headers and the parsed body.
 */
import type { TestContext } from "node:test";
import type { RegistryInstance } from "../../controller/src/client/types.js";
import {
  startRegistry,
  type RegistryHandle,
  type StartRegistryOptions,
} from "../../controller/src/registry/registry-role.js";
import { createLogger } from "../../controller/src/runtime/log.js";
import { kubectlOk } from "../harness/index.js";
import { client } from "./controller-fixtures.js";

/** Runs the registry role until the test ends; it serves once its caches synced. */
export async function runRegistry(
  t: TestContext,
  options: StartRegistryOptions = {},
): Promise<RegistryHandle> {
  const handle = await startRegistry(
    { host: "127.0.0.1", port: 0, ...options },
    {
      client: client(),
      logger: createLogger({ level: process.env.BERTH_TEST_LOG === "1" ? "debug" : "error" }),
    },
  );
  t.after(() => handle.stop());
  await handle.synced();
  return handle;
}

/**
 * A ServiceAccount in the namespace with a Role granting `rules` there (none: no rights at
 * all), and a real token for it from `kubectl create token`.
 */
export async function serviceAccountToken(
  namespace: string,
  name: string,
  rules: Array<{ verbs: string[]; resources: string[] }> = [],
): Promise<string> {
  await kubectlOk(["create", "serviceaccount", name, "-n", namespace]);
  if (rules.length > 0) {
    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace },
      rules: rules.map((rule) => ({ apiGroups: ["berth.dev"], ...rule })),
    };
    const binding = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    };
    await kubectlOk(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: [role, binding] }),
    });
  }
  return (await kubectlOk(["create", "token", name, "-n", namespace, "--duration=1h"])).trim();
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** One request to the registry; a JSON body is parsed, anything else is returned as text. */
export async function call<T = Record<string, unknown>>(
  registry: { url: string },
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    rawBody?: string;
    timeoutMs?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers["Content-Type"] ??= "application/json";
  const res = await fetch(`${registry.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get("content-type") ?? "").startsWith("application/json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export interface LookupBody {
  slug: string;
  namespace: string;
  index: number;
  instances: RegistryInstance[];
}

export interface StreamEvent {
  id: number;
  event: string;
  data: LookupBody;
}

/** Reads a registry event stream into `events` until the test ends. */
export async function collectEvents(
  t: TestContext,
  registry: { url: string },
  path: string,
  events: StreamEvent[],
  token?: string,
): Promise<void> {
  const abort = new AbortController();
  t.after(() => abort.abort());
  const res = await fetch(`${registry.url}${path}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal: abort.signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`event stream answered ${res.status}`);
  const decoder = new TextDecoder();
  let buffer = "";
  void (async () => {
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
          }
          if (fields.has("data")) {
            events.push({
              id: Number(fields.get("id")),
              event: fields.get("event") ?? "message",
              data: JSON.parse(fields.get("data")!) as LookupBody,
            });
          }
        }
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
}

/** How many blocking queries (or streams) the registry in this process holds open. */
export async function openWaits(kind: "blocking" | "stream"): Promise<number> {
  const { registryOpenWaits } = await import("../../controller/src/registry/metrics.js");
  const values = (await registryOpenWaits.get()).values;
  return values.find((v) => v.labels.kind === kind)?.value ?? 0;
}
