/**
 * The registry's routes: one table that the server dispatches on, the OpenAPI document
 * describes and the authorizer reads (which verb on which berth.dev resource each needs).
 */
import type { Verb } from "./auth.js";

export type RouteId =
  | "listServices"
  | "getService"
  | "streamService"
  | "registerInstance"
  | "heartbeatInstance"
  | "deregisterInstance"
  | "getOpenApi";

export interface Route {
  id: RouteId;
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path template with {param} segments. */
  path: string;
  /** What the caller needs in the request's namespace; absent for public routes. */
  access?: { verb: Verb; resource: "definitions" | "instances"; named: "slug" | "name" | false };
  /** A read anonymous loopback callers may make when the operator allows it. */
  read: boolean;
}

export const ROUTES: readonly Route[] = [
  {
    id: "listServices",
    method: "GET",
    path: "/v1/namespaces/{namespace}/services",
    access: { verb: "list", resource: "definitions", named: false },
    read: true,
  },
  {
    id: "getService",
    method: "GET",
    path: "/v1/namespaces/{namespace}/services/{slug}",
    access: { verb: "get", resource: "definitions", named: "slug" },
    read: true,
  },
  {
    id: "streamService",
    method: "GET",
    path: "/v1/namespaces/{namespace}/services/{slug}/events",
    access: { verb: "get", resource: "definitions", named: "slug" },
    read: true,
  },
  {
    id: "registerInstance",
    method: "POST",
    path: "/v1/namespaces/{namespace}/services/{slug}/instances",
    access: { verb: "create", resource: "instances", named: false },
    read: false,
  },
  {
    id: "heartbeatInstance",
    method: "PUT",
    path: "/v1/namespaces/{namespace}/services/{slug}/instances/{name}/heartbeat",
    access: { verb: "update", resource: "instances", named: "name" },
    read: false,
  },
  {
    id: "deregisterInstance",
    method: "DELETE",
    path: "/v1/namespaces/{namespace}/services/{slug}/instances/{name}",
    access: { verb: "delete", resource: "instances", named: "name" },
    read: false,
  },
  { id: "getOpenApi", method: "GET", path: "/v1/openapi.json", read: true },
];

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/**
 * The route of a method and path: a match, "method" when the path exists with other
 * methods (405), or undefined (404).
 */
export function matchRoute(method: string, pathname: string): RouteMatch | { allowed: string[] } | undefined {
  const segments = pathname.split("/");
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const pattern = route.path.split("/");
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const part = pattern[i]!;
      const segment = segments[i]!;
      if (part.startsWith("{")) {
        try {
          params[part.slice(1, -1)] = decodeURIComponent(segment);
        } catch {
          ok = false;
        }
        ok &&= segment !== "";
      } else ok = part === segment;
    }
    if (!ok) continue;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : undefined;
}
