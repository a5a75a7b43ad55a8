/** One API request as the registry's handlers see it, and who holds the wait slots it takes. */
import type http from "node:http";
import type { Access, Caller } from "./auth.js";
import type { Route } from "./routes.js";

export interface Call {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  route: Route;
  params: Record<string, string>;
  query: URLSearchParams;
  caller: Caller;
  /** What the route needs of RBAC, when it needs anything. */
  access?: Access;
  /** Aborted when the client goes away. */
  gone: AbortSignal;
}

/** Who holds wait slots: the authenticated user, or the peer address of an anonymous one. */
export function clientOf(call: Pick<Call, "req" | "caller">): string {
  return call.caller.anonymous
    ? `anonymous@${call.req.socket.remoteAddress ?? ""}`
    : `user:${call.caller.username}`;
}
