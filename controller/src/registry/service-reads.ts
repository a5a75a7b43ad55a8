/** The registry's reads of services: lookups with their answer cache, blocking queries, event streams. */
import type { Logger } from "../runtime/log.js";
import { clientOf, type Call } from "./call.js";
import type { ServiceAnswer, ServiceCatalog, ServiceKey } from "./catalog.js";
import { namespaceKey, serviceKey } from "./catalog.js";
import { HttpError, sendError, sendJson, sendPayload } from "./http.js";
import type { WaitSlots } from "./limits.js";
import { registryOpenWaits } from "./metrics.js";
import { blockingParams, includeAll } from "./validation.js";

export const INDEX_HEADER = "X-Berth-Index";
const MAX_CACHED_ANSWERS = 10_000;

export interface ServiceReadsOptions {
  catalog: ServiceCatalog;
  slots: WaitSlots;
  maxWaitMs: number;
  streamBufferBytes?: number;
  streamKeepaliveMs?: number;
  streamReauthorizeMs?: number;
  /** Aborted when the server closes: parked queries answer, streams end. */
  closing: AbortSignal;
  /** Whether an open stream's caller may still read it (false ends the stream). */
  stillAllowed: (call: Call) => Promise<boolean>;
  logger: Logger;
}

export class ServiceReads {
  /**
   * Serialized lookup answers by service and include mode, valid while the service's index
   * is the one they were made at: a lookup of an unchanged service costs no recomputation.
   */
  private readonly answers = new Map<string, { index: number; payload: string }>();

  constructor(private readonly options: ServiceReadsOptions) {}

  async listServices(call: Call, namespace: string): Promise<void> {
    const blocking = blockingParams(call.query, this.options.maxWaitMs);
    if (!(await this.parkUntilChanged(call, namespaceKey(namespace), blocking))) return;
    const answer = this.options.catalog.services(namespace);
    const index = Math.max(answer.index, blocking.index ?? 0);
    sendJson(
      call.res,
      200,
      { namespace, index, services: answer.services },
      { [INDEX_HEADER]: String(index) },
    );
  }

  async getService(call: Call, namespace: string, slug: string): Promise<void> {
    const all = includeAll(call.query);
    const blocking = blockingParams(call.query, this.options.maxWaitMs);
    const { catalog } = this.options;
    if (!(await this.parkUntilChanged(call, serviceKey(namespace, slug), blocking))) return;
    const key = serviceKey(namespace, slug);
    const current = catalog.indexOfKey(key);
    const cacheKey = `${key} ${all}`;
    const cached = this.answers.get(cacheKey);
    if (cached?.index === current && (blocking.index ?? 0) <= current) {
      sendPayload(call.res, 200, cached.payload, { [INDEX_HEADER]: String(current) });
      return;
    }
    const answer = catalog.service(namespace, slug);
    const index = Math.max(answer.index, blocking.index ?? 0);
    const headers = { [INDEX_HEADER]: String(index) };
    if (answer.instances.length === 0 && !answer.defined) {
      sendError(
        call.res,
        new HttpError(
          404,
          `service "${slug}" not found in namespace "${namespace}": no Definition and no registered instance has this slug`,
          "slug",
          headers,
        ),
      );
      return;
    }
    const payload = JSON.stringify(lookupBody(answer, index, all));
    if (index === answer.index) {
      // Bounded by the services that exist (only found ones are kept); a full cache starts over.
      if (this.answers.size >= MAX_CACHED_ANSWERS) this.answers.clear();
      this.answers.set(cacheKey, { index, payload });
    }
    sendPayload(call.res, 200, payload, headers);
  }

  streamService(call: Call, namespace: string, slug: string): void {
    const all = includeAll(call.query);
    const release = this.options.slots.acquire(clientOf(call));
    const { res } = call;
    const { catalog } = this.options;
    const maxBuffered = this.options.streamBufferBytes ?? 256 * 1024;
    registryOpenWaits.inc({ kind: "stream" });
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    const key = serviceKey(namespace, slug);
    const lastSeen = Number(call.req.headers["last-event-id"] ?? "");
    let sentIndex = Number.isInteger(lastSeen) && lastSeen > 0 ? lastSeen : -1;
    const send = (): void => {
      const answer = catalog.service(namespace, slug);
      if (answer.index <= sentIndex) return;
      sentIndex = answer.index;
      // A reader that does not keep up is dropped; it reconnects with Last-Event-ID.
      if (res.writableLength > maxBuffered) {
        this.options.logger.info("dropping a slow event stream reader", { namespace, slug });
        res.destroy();
        return;
      }
      const body = lookupBody(answer, answer.index, all);
      res.write(`id: ${answer.index}\nevent: instances\ndata: ${JSON.stringify(body)}\n\n`);
    };
    const unsubscribe = catalog.subscribe(key, send);
    const keepalive = setInterval(
      () => res.write(": keepalive\n\n"),
      this.options.streamKeepaliveMs ?? 15_000,
    );
    const recheck = setInterval(
      () => void this.options.stillAllowed(call).then((allowed) => allowed || res.end()),
      this.options.streamReauthorizeMs ?? 30_000,
    );
    const end = (): void => {
      clearInterval(keepalive);
      clearInterval(recheck);
      unsubscribe();
      release();
      registryOpenWaits.dec({ kind: "stream" });
    };
    res.once("close", end);
    this.options.closing.addEventListener("abort", () => res.end(), { once: true });
    send();
  }

  /**
   * A blocking query (`?index=N&wait=D`) waits here until the key's index passes N or the
   * wait runs out; false when the client went away meanwhile (nothing to answer).
   */
  private async parkUntilChanged(
    call: Call,
    key: ServiceKey,
    blocking: { index?: number; waitMs: number },
  ): Promise<boolean> {
    if (blocking.index === undefined || blocking.waitMs <= 0) return true;
    const release = this.options.slots.acquire(clientOf(call));
    registryOpenWaits.inc({ kind: "blocking" });
    try {
      const signal = AbortSignal.any([call.gone, this.options.closing, AbortSignal.timeout(blocking.waitMs)]);
      await this.options.catalog.waitForChange(key, blocking.index, signal);
    } finally {
      release();
      registryOpenWaits.dec({ kind: "blocking" });
    }
    return !call.gone.aborted;
  }
}

function lookupBody(answer: ServiceAnswer, index: number, all: boolean): object {
  return {
    slug: answer.slug,
    namespace: answer.namespace,
    index,
    instances: all ? answer.instances : answer.instances.filter((i) => i.ready),
  };
}
