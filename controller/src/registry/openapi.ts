/**
 * The registry API's OpenAPI 3.1 document, served at GET /v1/openapi.json. Its paths and
 * operations are built from the route table, so a route cannot exist without being
 * described (a unit test checks the reverse: every described operation is routed).
 */
import { VERSION as BERTH_VERSION } from "../runtime/version.js";
import { ROUTES, type RouteId } from "./routes.js";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ "application/json": { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref("Error")) });
const indexHeader = {
  "X-Berth-Index": {
    description: "The service's change index; pass it back as ?index= to wait for the next change.",
    schema: { type: "integer", minimum: 0 },
  },
};

const PARAMETERS = {
  namespace: {
    name: "namespace",
    in: "path",
    required: true,
    description: "The Kubernetes namespace (the tenant).",
    schema: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 },
  },
  slug: {
    name: "slug",
    in: "path",
    required: true,
    description:
      "The service's slug: its Definition's name, or the slug external instances registered under.",
    schema: { type: "string", pattern: "^[a-z]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 },
  },
  name: {
    name: "name",
    in: "path",
    required: true,
    description: "The external Instance's name, as registration answered it.",
    schema: { type: "string", maxLength: 253 },
  },
  index: {
    name: "index",
    in: "query",
    description: "Blocking query: answer once the service's index is above this (or when wait runs out).",
    schema: { type: "integer", minimum: 0 },
  },
  wait: {
    name: "wait",
    in: "query",
    description:
      "Longest wait of a blocking query, such as 30s or 5m (plain numbers are seconds); capped by the server.",
    schema: { type: "string" },
  },
  include: {
    name: "include",
    in: "query",
    description: "all: list not-ready instances too, with the reason; ready (default): ready ones only.",
    schema: { type: "string", enum: ["all", "ready"] },
  },
} as const;

const COMMON_ERRORS = {
  "400": errorResponse("Bad input; error.field names the field."),
  "401": errorResponse("No bearer token, or one the API server does not accept."),
  "403": errorResponse(
    "RBAC does not allow the verb on the resource in the namespace; the message names them.",
  ),
  "503": errorResponse(
    "Caches not synced, access check unavailable, or too many blocking queries/streams (Retry-After).",
  ),
};

const OPERATIONS: Record<RouteId, object> = {
  listServices: {
    summary: "Every service in the namespace (a blocking query with ?index=)",
    description:
      "Needs list on definitions.berth.dev in the namespace. With ?index=, answers when the list changed since that index (a service's instances or readiness, a Definition's replicas or deploymentId) or when wait runs out.",
    parameters: [PARAMETERS.namespace, PARAMETERS.index, PARAMETERS.wait],
    responses: {
      "200": { description: "The services.", headers: indexHeader, content: json(ref("ServiceList")) },
      ...COMMON_ERRORS,
    },
  },
  getService: {
    summary: "The instances of one service (a blocking query with ?index=)",
    description: "Needs get on definitions.berth.dev (named by the slug) in the namespace.",
    parameters: [
      PARAMETERS.namespace,
      PARAMETERS.slug,
      PARAMETERS.index,
      PARAMETERS.wait,
      PARAMETERS.include,
    ],
    responses: {
      "200": { description: "The service's instances.", headers: indexHeader, content: json(ref("Service")) },
      "404": errorResponse("No Definition and no registered instance has this slug."),
      ...COMMON_ERRORS,
    },
  },
  streamService: {
    summary: "Server-Sent Events: one `instances` event per change, with the new list",
    description:
      "Needs get on definitions.berth.dev (named by the slug). Each event's id is the index; reconnect with Last-Event-ID.",
    parameters: [PARAMETERS.namespace, PARAMETERS.slug, PARAMETERS.include],
    responses: {
      "200": {
        description: "An event stream; each event's data is a Service object.",
        content: { "text/event-stream": { schema: { type: "string" } } },
      },
      ...COMMON_ERRORS,
    },
  },
  registerInstance: {
    summary: "Register an external instance with a TTL",
    description: "Needs create on instances.berth.dev in the namespace.",
    parameters: [PARAMETERS.namespace, PARAMETERS.slug],
    requestBody: { required: true, content: json(ref("Registration")) },
    responses: {
      "201": { description: "Registered.", content: json(ref("Registered")) },
      ...COMMON_ERRORS,
    },
  },
  heartbeatInstance: {
    summary: "Renew an external instance's TTL",
    description: "Needs update on instances.berth.dev (named) in the namespace.",
    parameters: [PARAMETERS.namespace, PARAMETERS.slug, PARAMETERS.name],
    responses: {
      "200": { description: "Renewed.", content: json(ref("Heartbeat")) },
      "404": errorResponse("No external instance of this name and slug."),
      ...COMMON_ERRORS,
    },
  },
  deregisterInstance: {
    summary: "Deregister an external instance at once",
    description:
      "Needs delete on instances.berth.dev (named) in the namespace. Berth-run instances are never deleted here.",
    parameters: [PARAMETERS.namespace, PARAMETERS.slug, PARAMETERS.name],
    responses: {
      "204": { description: "Deregistered." },
      "404": errorResponse("No external instance of this name and slug."),
      ...COMMON_ERRORS,
    },
  },
  getOpenApi: {
    summary: "This document",
    security: [],
    responses: { "200": { description: "The OpenAPI 3.1 document.", content: json({ type: "object" }) } },
  },
};

const SCHEMAS = {
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        properties: {
          code: { type: "integer" },
          message: { type: "string" },
          field: { type: "string", description: "The field at fault, for 400 answers." },
        },
      },
    },
  },
  Instance: {
    type: "object",
    required: ["name", "url", "host", "port", "node", "deploymentId", "ready", "external"],
    properties: {
      name: { type: "string" },
      url: { type: ["string", "null"] },
      host: { type: ["string", "null"] },
      port: { type: ["integer", "null"] },
      node: { type: ["string", "null"], description: "null for an external instance." },
      deploymentId: { type: ["string", "null"], description: "null for an external instance." },
      ready: { type: "boolean" },
      external: { type: "boolean" },
      reason: { type: "string", description: "Why it is not ready (with ?include=all)." },
      metadata: { type: "object", additionalProperties: { type: "string" } },
    },
  },
  Service: {
    type: "object",
    required: ["slug", "namespace", "index", "instances"],
    properties: {
      slug: { type: "string" },
      namespace: { type: "string" },
      index: { type: "integer" },
      instances: { type: "array", items: ref("Instance") },
    },
  },
  ServiceSummary: {
    type: "object",
    required: ["slug", "ready", "desired", "deploymentId", "source"],
    properties: {
      slug: { type: "string" },
      ready: { type: "integer" },
      desired: { type: "integer" },
      deploymentId: { type: ["string", "null"] },
      source: { type: "string", enum: ["berth", "external", "both"] },
    },
  },
  ServiceList: {
    type: "object",
    required: ["namespace", "index", "services"],
    properties: {
      namespace: { type: "string" },
      index: { type: "integer" },
      services: { type: "array", items: ref("ServiceSummary") },
    },
  },
  Registration: {
    type: "object",
    required: ["url"],
    additionalProperties: false,
    properties: {
      url: { type: "string", format: "uri", pattern: "^https?://", maxLength: 2048 },
      ttlSeconds: { type: "integer", description: "Within the server's bounds; its default when absent." },
      metadata: {
        type: "object",
        maxProperties: 64,
        additionalProperties: { type: "string", maxLength: 1024 },
      },
    },
  },
  Registered: {
    type: "object",
    required: ["name", "namespace", "slug", "url", "ttlSeconds"],
    properties: {
      name: { type: "string" },
      namespace: { type: "string" },
      slug: { type: "string" },
      url: { type: "string" },
      ttlSeconds: { type: "integer" },
    },
  },
  Heartbeat: {
    type: "object",
    required: ["name", "ttlSeconds"],
    properties: { name: { type: "string" }, ttlSeconds: { type: ["integer", "null"] } },
  },
};

export function openApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of ROUTES) {
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = { operationId: route.id, ...OPERATIONS[route.id] };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Berth registry API",
      version: BERTH_VERSION,
      description:
        "Lookup, blocking queries, event streams and self-registration of services Berth knows. " +
        "Authenticate with a Kubernetes bearer token; every request is authorized by RBAC in its namespace.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A Kubernetes ServiceAccount token." },
      },
      schemas: SCHEMAS,
    },
  };
}
