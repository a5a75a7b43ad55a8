/**
 * What the discovery mirror last wrote to each EndpointSlice, as Kubernetes' own
 * EndpointSlice controller tracks it: right after a write the informer cache still holds
 * the slice as it was, and planning from it would write again with a stale resourceVersion
 * (a refused write) or update a slice that is gone. A service is planned again once the
 * cache shows every write recorded for it, or after a timeout (a lost watch event must not
 * block it forever).
 */
import type { EndpointSlice } from "../kube/resources.js";
import type { Informer } from "../runtime/informer.js";
import { isOlderVersion } from "../runtime/lagging-cache.js";
import { SERVICE_NAME_LABEL } from "./discovery/discovery.js";

interface Written {
  /** The slice as the server answered the write; undefined for a delete. */
  resourceVersion?: string;
  uid?: string;
  generation?: number;
  /** The uid of the slice deleted. */
  deletedUid?: string;
  expiresAt: number;
}

export class SliceTracker {
  /** Service key → slice name → the last write. */
  private readonly written = new Map<string, Map<string, Written>>();
  /** Services a pass found the cache behind on: the watch event of their write is awaited. */
  private readonly waiting = new Set<string>();

  constructor(private readonly timeoutMs = 30_000) {}

  /** Records a create or update, from the server's answer. */
  wrote(serviceKey: string, slice: EndpointSlice, now: number): void {
    const record: Written = { expiresAt: now + this.timeoutMs };
    if (slice.metadata?.resourceVersion) record.resourceVersion = slice.metadata.resourceVersion;
    if (slice.metadata?.generation !== undefined) record.generation = slice.metadata.generation;
    if (slice.metadata?.uid) record.uid = slice.metadata.uid;
    this.slot(serviceKey).set(slice.metadata?.name ?? "", record);
  }

  /**
   * The cache dropped a slice of the service (someone deleted it): a write of that very
   * slice is no longer to wait for, since the cache showed it before it went.
   */
  gone(serviceKey: string, slice: EndpointSlice): void {
    const records = this.written.get(serviceKey);
    const name = slice.metadata?.name ?? "";
    const record = records?.get(name);
    if (record?.uid === undefined || record.uid !== slice.metadata?.uid) return;
    records?.delete(name);
    if (records?.size === 0) this.written.delete(serviceKey);
  }

  /** Records a delete of a slice as the cache held it. */
  deleted(serviceKey: string, slice: EndpointSlice, now: number): void {
    this.slot(serviceKey).set(slice.metadata?.name ?? "", {
      deletedUid: slice.metadata?.uid ?? "",
      expiresAt: now + this.timeoutMs,
    });
  }

  /**
   * Whether the cached slices of the service show every write recorded for it. Records the
   * cache shows, or that expired, are dropped.
   */
  caughtUp(serviceKey: string, cached: readonly EndpointSlice[], now: number): boolean {
    const records = this.written.get(serviceKey);
    if (!records) return true;
    const byName = new Map(cached.map((s) => [s.metadata?.name ?? "", s]));
    for (const [name, record] of records) {
      if (now >= record.expiresAt || shows(byName.get(name), record)) records.delete(name);
    }
    if (records.size > 0) {
      this.waiting.add(serviceKey);
      return false;
    }
    this.written.delete(serviceKey);
    this.waiting.delete(serviceKey);
    return true;
  }

  /** Whether a pass of the slice's service waits for the cache (once: the next pass looks again). */
  passWaits(slice: EndpointSlice): boolean {
    return this.waiting.delete(sliceServiceKey(slice) ?? "");
  }

  /** Tells gone() of each slice the cache drops, under its service's key. */
  observeDeletions(informer: Pick<Informer<EndpointSlice>, "addHandler">): void {
    informer.addHandler({
      onDelete: (slice) => {
        const serviceKey = sliceServiceKey(slice);
        if (serviceKey !== undefined) this.gone(serviceKey, slice);
      },
    });
  }

  /** Forgets a service (it is gone). */
  forget(serviceKey: string): void {
    this.written.delete(serviceKey);
    this.waiting.delete(serviceKey);
  }

  private slot(serviceKey: string): Map<string, Written> {
    let records = this.written.get(serviceKey);
    if (!records) this.written.set(serviceKey, (records = new Map()));
    return records;
  }
}

/** `<namespace>/<service>` of the slice's Service, by its label. */
function sliceServiceKey(slice: EndpointSlice): string | undefined {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  return service === undefined ? undefined : `${slice.metadata?.namespace ?? ""}/${service}`;
}

function shows(slice: EndpointSlice | undefined, record: Written): boolean {
  if (record.deletedUid !== undefined)
    return slice === undefined || slice.metadata?.uid !== record.deletedUid;
  if (!slice) return false;
  const shown = slice.metadata?.resourceVersion;
  // A later version (someone else's write after ours, however small) comes after it too.
  if (record.resourceVersion !== undefined) {
    if (shown === record.resourceVersion || isOlderVersion(record.resourceVersion, shown)) return true;
  }
  // A later change of the slice's content (someone else's write) has a higher generation.
  const generation = slice.metadata?.generation;
  return generation !== undefined && record.generation !== undefined && generation > record.generation;
}
