/** Who a request comes from and what it may do: tokens, anonymous loopback reads, RBAC, re-checks of streams. */
import type http from "node:http";
import type { Logger } from "../runtime/log.js";
import type { KubeAuthorizer } from "./auth.js";
import { ReviewUnavailableError, describeDenial, type Access, type Caller } from "./auth.js";
import type { Call } from "./call.js";
import { HttpError, bearerToken, fromLoopback } from "./http.js";
import { registryStreamRechecks } from "./metrics.js";
import type { Route } from "./routes.js";
import { httpErrorOf, unauthorized } from "./server-errors.js";
import { checkInstanceName, checkSlug } from "./validation.js";

export class CallerChecks {
  constructor(
    private readonly authorizer: KubeAuthorizer,
    private readonly allowAnonymousLoopback: boolean,
    private readonly log: Logger,
  ) {}

  async authenticate(req: http.IncomingMessage, route: Pick<Route, "read">): Promise<Caller> {
    const token = bearerToken(req);
    if (token === undefined) throw unauthorized('the Authorization header must be "Bearer <token>"');
    if (token === "") {
      if (this.allowAnonymousLoopback && route.read && fromLoopback(req)) {
        return { username: "system:anonymous", groups: [], anonymous: true };
      }
      throw unauthorized(
        "a bearer token is required (a ServiceAccount token, e.g. from kubectl create token)",
      );
    }
    const caller = await this.authorizer.authenticate(token);
    if (!caller) throw unauthorized("the bearer token was not accepted by the API server");
    return caller;
  }

  /** What the call's route needs of RBAC in the namespace, with the object it names. */
  accessOf(call: Pick<Call, "route" | "params">, namespace: string): Access | undefined {
    const needs = call.route.access;
    if (!needs) return undefined;
    const access: Access = { verb: needs.verb, resource: needs.resource, namespace };
    if (needs.named === "slug") access.name = checkSlug(call.params.slug ?? "");
    if (needs.named === "name") access.name = checkInstanceName(call.params.name ?? "");
    return access;
  }

  async authorize(caller: Caller, access: Access): Promise<void> {
    // Anonymous loopback reads are allowed by the operator's flag, not by RBAC.
    if (caller.anonymous) return;
    const decision = await this.authorizer.authorize(caller, access);
    if (!decision.allowed) throw new HttpError(403, `forbidden: ${describeDenial(caller, access)}`);
  }

  /** Whether RBAC allows it, without an error: anonymous callers are allowed all they reach. */
  async allowed(caller: Caller, access: Access): Promise<boolean> {
    return caller.anonymous || (await this.authorizer.authorize(caller, access)).allowed;
  }

  /**
   * Whether a stream's caller may still read it. On a refusal the stream gets an `error`
   * event saying why before it ends; when the API server cannot answer, the stream goes on
   * (an outage of reviews does not cut every reader off) and is checked again next time.
   */
  async stillAllowed(call: Call): Promise<boolean> {
    try {
      const caller = await this.authenticate(call.req, call.route);
      if (call.access) await this.authorize(caller, call.access);
      registryStreamRechecks.inc({ result: "allowed" });
      return true;
    } catch (err) {
      if (err instanceof ReviewUnavailableError) {
        registryStreamRechecks.inc({ result: "unavailable" });
        return true;
      }
      registryStreamRechecks.inc({ result: "refused" });
      const refusal = httpErrorOf(err, this.log);
      this.log.info("ending an event stream whose caller is no longer allowed", {
        code: refusal.status,
        path: call.req.url,
      });
      if (!call.res.writableEnded) {
        call.res.write(
          `event: error\ndata: ${JSON.stringify({ code: refusal.status, message: refusal.message })}\n\n`,
        );
      }
      return false;
    }
  }
}
