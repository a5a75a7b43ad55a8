/** The registry's writes: an external Instance registered, its heartbeat, its deregistration. */
import type { Call } from "./call.js";
import type { ExternalInstances } from "./external.js";
import { readJsonBody, sendJson } from "./http.js";
import { parseRegistration, type TtlBounds } from "./validation.js";

export interface RegistrationOptions {
  external: ExternalInstances;
  ttl: TtlBounds;
  maxBodyBytes: number;
}

export async function register(
  options: RegistrationOptions,
  call: Call,
  namespace: string,
  slug: string,
): Promise<void> {
  const body = await readJsonBody(call.req, options.maxBodyBytes);
  const registration = parseRegistration(body, options.ttl);
  const instance = await options.external.register(namespace, slug, registration, call.caller.username);
  const name = instance.metadata.name ?? "";
  sendJson(
    call.res,
    201,
    { name, namespace, slug, url: registration.url, ttlSeconds: registration.ttlSeconds },
    { Location: `/v1/namespaces/${namespace}/services/${slug}/instances/${name}` },
  );
}

export async function heartbeat(
  options: RegistrationOptions,
  call: Call,
  namespace: string,
  slug: string,
  name: string,
): Promise<void> {
  const instance = await options.external.heartbeat(namespace, slug, name);
  sendJson(call.res, 200, { name, ttlSeconds: instance.spec.external?.ttlSeconds ?? null });
}

export async function deregister(
  options: RegistrationOptions,
  call: Call,
  namespace: string,
  slug: string,
  name: string,
): Promise<void> {
  await options.external.deregister(namespace, slug, name);
  call.res.writeHead(204).end();
}
