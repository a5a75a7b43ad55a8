/** A build under way, shared by the requests for its tag; cancelled when all of them are. */
export interface SharedBuild<T> {
  result: Promise<T>;
  cancel: AbortController;
  waiters: number;
}

/**
 * Waits for a shared build unless the signal fires first. The last waiter to leave cancels
 * the build (and `forget` drops it, so a new request starts afresh rather than join it).
 */
export function waitForBuild<T>(
  build: SharedBuild<T>,
  signal: AbortSignal | undefined,
  forget: () => void,
): Promise<T> {
  const reasonOf = (s: AbortSignal) => (s.reason instanceof Error ? s.reason : new Error("aborted"));
  if (signal?.aborted) return Promise.reject(reasonOf(signal));
  build.waiters++;
  return new Promise((done, fail) => {
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      build.waiters--;
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      leave();
      if (build.waiters === 0) {
        forget();
        build.cancel.abort(signal?.reason);
      }
      if (signal) fail(reasonOf(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    build.result.then(
      (value) => {
        leave();
        done(value);
      },
      (err: unknown) => {
        leave();
        fail(err);
      },
    );
  });
}

/** The builds under way, by tag: a request for a tag being built joins that build. */
export class SharedBuilds<T> {
  private readonly inFlight = new Map<string, SharedBuild<T>>();

  /**
   * The result of the build of `tag`: the one under way, or one `start` begins (with the
   * signal that cancels it once every request for it has gone). `signal` is this request's.
   */
  async join(
    tag: string,
    signal: AbortSignal | undefined,
    start: (cancel: AbortSignal) => Promise<T>,
  ): Promise<T> {
    let build = this.inFlight.get(tag);
    if (!build) {
      const cancel = new AbortController();
      const started: SharedBuild<T> = { cancel, waiters: 0, result: start(cancel.signal) };
      void started.result
        .finally(() => {
          if (this.inFlight.get(tag) === started) this.inFlight.delete(tag);
        })
        .catch(() => undefined);
      this.inFlight.set(tag, started);
      build = started;
    }
    const joined = build;
    return await waitForBuild(joined, signal, () => {
      if (this.inFlight.get(tag) === joined) this.inFlight.delete(tag);
    });
  }
}
