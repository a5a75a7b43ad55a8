/**
 * Who is calling and what they may do, asked of Kubernetes itself: a bearer token is
 * checked with a TokenReview, each request is authorized with a SubjectAccessReview against
 * the cluster's RBAC. Both answers are cached briefly (bounded in size and time), keyed by a
 * hash of the token, never the token itself. Concurrent requests that miss the cache for the
 * same key share one review: when an entry expires under load, one review goes to the API
 * server, not one per waiting request.
 */
import { createHash } from "node:crypto";
import type { KubeClient } from "../kube/client.js";
import { SUBJECT_ACCESS_REVIEWS, TOKEN_REVIEWS } from "../kube/resources.js";
import { GROUP } from "../api/types.js";
import type { Clock } from "../runtime/clock.js";
import { ExpiringCache } from "./expiring-cache.js";

export interface Caller {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
  /** No token, allowed only for reads on loopback when the operator said so. */
  anonymous: boolean;
}

export type Verb = "get" | "list" | "create" | "update" | "delete";

/**
 * What a request needs: a verb on definitions or instances (berth.dev) in a namespace, or on
 * nodes (cluster-scoped: namespace "").
 */
export interface Access {
  verb: Verb;
  resource: "definitions" | "instances" | "nodes";
  namespace: string;
  name?: string;
}

export interface Decision {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string;
}

export interface AuthorizerOptions {
  client: KubeClient;
  clock: Clock;
  cacheTtlMs: number;
  cacheSize: number;
}

/** The API server could not answer a review: the request can be neither allowed nor refused. */
export class ReviewUnavailableError extends Error {
  constructor(what: string, cause: unknown) {
    super(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "ReviewUnavailableError";
  }
}

export class KubeAuthorizer {
  private readonly tokens: ExpiringCache<Caller | null>;
  private readonly decisions: ExpiringCache<Decision>;
  private readonly pendingTokens = new Map<string, Promise<Caller | null>>();
  private readonly pendingDecisions = new Map<string, Promise<Decision>>();

  constructor(private readonly options: AuthorizerOptions) {
    this.tokens = new ExpiringCache(options.clock, options.cacheTtlMs, options.cacheSize);
    this.decisions = new ExpiringCache(options.clock, options.cacheTtlMs, options.cacheSize);
  }

  /** The caller the token belongs to, or undefined for a token the API server does not accept. */
  async authenticate(token: string): Promise<Caller | undefined> {
    const key = createHash("sha256").update(token).digest("hex");
    const cached = this.tokens.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const caller = await shared(this.pendingTokens, key, () => this.reviewToken(key, token));
    return caller ?? undefined;
  }

  private async reviewToken(key: string, token: string): Promise<Caller | null> {
    let review;
    try {
      review = await this.options.client.create(TOKEN_REVIEWS, {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token },
      });
    } catch (err) {
      throw new ReviewUnavailableError("TokenReview", err);
    }
    const user = review.status?.user;
    const caller: Caller | null =
      review.status?.authenticated === true && user?.username
        ? {
            username: user.username,
            ...(user.uid ? { uid: user.uid } : {}),
            groups: user.groups ?? [],
            ...(user.extra ? { extra: user.extra } : {}),
            anonymous: false,
          }
        : null;
    this.tokens.set(key, caller);
    return caller;
  }

  async authorize(caller: Caller, access: Access): Promise<Decision> {
    const key = JSON.stringify([
      caller.username,
      caller.uid ?? "",
      [...caller.groups].sort(),
      caller.extra ?? {},
      access.verb,
      access.resource,
      access.namespace,
      access.name ?? "",
    ]);
    const cached = this.decisions.get(key);
    if (cached) return cached;
    return shared(this.pendingDecisions, key, () => this.reviewAccess(key, caller, access));
  }

  private async reviewAccess(key: string, caller: Caller, access: Access): Promise<Decision> {
    let review;
    try {
      review = await this.options.client.create(SUBJECT_ACCESS_REVIEWS, {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: caller.username,
          ...(caller.uid ? { uid: caller.uid } : {}),
          groups: caller.groups,
          ...(caller.extra ? { extra: caller.extra } : {}),
          resourceAttributes: {
            namespace: access.namespace,
            verb: access.verb,
            group: GROUP,
            resource: access.resource,
            ...(access.name ? { name: access.name } : {}),
          },
        },
      });
    } catch (err) {
      throw new ReviewUnavailableError("SubjectAccessReview", err);
    }
    const decision: Decision = { allowed: review.status?.allowed === true };
    if (review.status?.reason) decision.reason = review.status.reason;
    this.decisions.set(key, decision);
    return decision;
  }
}

/** One call of `work` per key at a time: callers that arrive while it runs share its result. */
function shared<V>(pending: Map<string, Promise<V>>, key: string, work: () => Promise<V>): Promise<V> {
  const running = pending.get(key);
  if (running) return running;
  const started = work().finally(() => pending.delete(key));
  pending.set(key, started);
  return started;
}

/** "user X cannot get definitions.berth.dev in namespace Y": what a 403 says. */
export function describeDenial(caller: Caller, access: Access): string {
  const what = `${access.resource}.${GROUP}${access.name ? ` "${access.name}"` : ""}`;
  return `${caller.anonymous ? "anonymous caller" : `user "${caller.username}"`} cannot ${access.verb} ${what} ${access.namespace ? `in namespace "${access.namespace}"` : "cluster-wide"}`;
}
