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
