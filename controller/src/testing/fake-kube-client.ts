import type {
  ApplyOptions,
  DeleteOptions,
  KubeClient,
  ListOptions,
  ListResult,
  ObjectRef,
  WatchEvent,
  WatchHandle,
  WatchOptions,
} from "../kube/client.js";
import type { JsonPatchOp } from "../kube/patch.js";
import type { KubeObject, ResourceDescriptor } from "../kube/resources.js";

export interface RecordedCall {
  verb: string;
  /** The resource's plural (the in-memory API server records it). */
  resource?: string;
  ref?: ObjectRef;
  body?: unknown;
  /** A server-side apply's field manager. */
  fieldManager?: string;
}

/**
 * An in-memory stand-in for KubeClient, for unit tests of pure logic only: it records the
 * writes asked of it and answers lists and watches from what the test scripts. Anything
 * about the real API server's behaviour is tested against the real one. For tests that need
 * a server which keeps what is written (gets, resourceVersion preconditions, finalizers),
 * FakeApiServer in fake-apiserver.ts is that; this one scripts the protocol (list results,
 * watch events and errors) exactly.
 */
export class FakeKubeClient implements KubeClient {
  readonly calls: RecordedCall[] = [];
  /** What list() answers next (shifted per call); an Error is thrown. */
  readonly listResults: Array<ListResult<KubeObject> | Error> = [];
  /** Active watches, newest last; a test emits events and ends them. */
  readonly watches: Array<{
    options: WatchOptions;
    emit(event: WatchEvent<KubeObject>): void;
    end(err?: Error): void;
    stopped: boolean;
  }> = [];
  /**
   * How many of the next watches never get an answer: their watch() call stays pending
   * until the caller aborts it through options.signal, like a server that accepted the
   * connection and then said nothing.
   */
  stalledConnects = 0;
  /** Errors the next write calls throw, in order. */
  readonly writeErrors: Error[] = [];

  async get<T extends KubeObject>(_resource: ResourceDescriptor<T>, ref: ObjectRef): Promise<T> {
    this.calls.push({ verb: "get", ref });
    throw Object.assign(new Error("not found"), { statusCode: 404 });
  }

  async list<T extends KubeObject>(
    _resource: ResourceDescriptor<T>,
    options?: ListOptions,
  ): Promise<ListResult<T>> {
    this.calls.push({ verb: "list", ...(options ? { body: options } : {}) });
    const next = this.listResults.shift();
    if (!next) return { items: [], resourceVersion: "1" };
    if (next instanceof Error) throw next;
    return structuredClone(next) as ListResult<T>;
  }

  private write<T>(verb: string, ref: ObjectRef | undefined, body: unknown): T {
    this.calls.push({ verb, ...(ref ? { ref } : {}), body });
    const err = this.writeErrors.shift();
    if (err) throw err;
    return structuredClone(body) as T;
  }

  async create<T extends KubeObject>(_resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    return this.write("create", undefined, obj);
  }
  async replace<T extends KubeObject>(_resource: ResourceDescriptor<T>, obj: T): Promise<T> {
    return this.write("replace", undefined, obj);
  }
  async mergePatch<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    return this.write("mergePatch", ref, patch);
  }
  async jsonPatch<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    ops: JsonPatchOp[],
  ): Promise<T> {
    return this.write("jsonPatch", ref, ops);
  }
  async applyStatus<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    obj: T,
    _options: ApplyOptions,
  ): Promise<T> {
    return this.write(
      "applyStatus",
      { namespace: obj.metadata?.namespace, name: obj.metadata?.name ?? "" },
      obj,
    );
  }
  async patchStatus<T extends KubeObject>(
    _r: ResourceDescriptor<T>,
    ref: ObjectRef,
    patch: object,
  ): Promise<T> {
    return this.write("patchStatus", ref, patch);
  }
  async delete(_resource: ResourceDescriptor, ref: ObjectRef, options?: DeleteOptions): Promise<void> {
    this.write("delete", ref, options);
  }

  async watch<T extends KubeObject>(
    _resource: ResourceDescriptor<T>,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void,
    onDone: (err: Error | undefined) => void,
  ): Promise<WatchHandle> {
    this.calls.push({ verb: "watch", body: options });
    const entry = {
      options,
      stopped: false,
      emit: (event: WatchEvent<KubeObject>) => {
        if (!entry.stopped) onEvent(structuredClone(event) as WatchEvent<T>);
      },
      end: (err?: Error) => {
        if (entry.stopped) return;
        entry.stopped = true;
        onDone(err);
      },
    };
    this.watches.push(entry);
    const handle = { stop: () => entry.end() };
    options.signal?.addEventListener("abort", () => entry.end(), { once: true });
    if (this.stalledConnects > 0) {
      this.stalledConnects--;
      entry.stopped = true; // nothing is delivered on a watch that never answered
      return new Promise<WatchHandle>((resolve) => {
        const answerAbort = (): void => {
          onDone(new Error("aborted before the server answered"));
          resolve(handle);
        };
        if (options.signal?.aborted) answerAbort();
        else options.signal?.addEventListener("abort", answerAbort, { once: true });
      });
    }
    return handle;
  }
}

/**
 * Polls `condition` until it holds, on real time; throws naming what was awaited once
 * `timeoutMs` passes, so a test whose condition never comes fails instead of hanging.
 */
export async function waitUntil(
  description: string,
  condition: () => boolean,
  timeoutMs = 10_000,
  intervalMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
