import http from "node:http";
import https from "node:https";
import type { ApiStatus } from "./errors.js";
import { KubeApiError } from "./errors.js";

/** One line of a watch stream, as the API server sends it. */
export interface RawWatchEvent {
  type: string;
  object: unknown;
}

export interface WatchStreamRequest {
  url: URL;
  options: https.RequestOptions;
  /** The stream must have answered (response headers) within this long, or it fails. */
  connectTimeoutMs: number;
  /** Aborting it ends the stream at once, connected or not, as stop() does. */
  signal?: AbortSignal | undefined;
  onEvent(event: RawWatchEvent): void;
  /** Called exactly once: undefined for a stream that was stopped or closed by the server. */
  onDone(err: Error | undefined): void;
}

export interface WatchStream {
  /** Resolves once the server answered or the request failed: the HTTP code, or undefined. */
  connected: Promise<number | undefined>;
  stop(): void;
}

/**
 * Opens a watch: a GET whose answer is one JSON event per line. Unlike a plain request it
 * has no idle timeout once streaming (a quiet watch is healthy; the informer's silence
 * watchdog decides when it is not), but the wait for the server's first answer is bounded:
 * a server (or a proxy in front of it) that accepts the connection and never answers would
 * otherwise hold the watch, and the cache behind it, forever.
 */
export function openWatchStream(request: WatchStreamRequest): WatchStream {
  const { url, options, connectTimeoutMs, signal, onEvent, onDone } = request;
  let finished = false;
  let answered = false;
  let settleConnected!: (code: number | undefined) => void;
  const connected = new Promise<number | undefined>((resolve) => (settleConnected = resolve));
  const send = url.protocol === "https:" ? https.request : http.request;
  const req = send(url, { ...options, method: "GET" });
  let connectTimer: NodeJS.Timeout | undefined = undefined;

  const finish = (err: Error | undefined): void => {
    if (finished) return;
    finished = true;
    clearTimeout(connectTimer);
    signal?.removeEventListener("abort", stop);
    req.destroy();
    if (!answered) settleConnected(undefined);
    onDone(err);
  };
  const stop = (): void => finish(undefined);
  const deliver = (line: string): void => {
    let event: RawWatchEvent;
    try {
      event = JSON.parse(line) as RawWatchEvent;
    } catch {
      finish(new KubeApiError(0, `watch ${url.pathname}: the server sent a line that is not JSON`));
      return;
    }
    onEvent(event);
  };

  connectTimer = setTimeout(() => {
    finish(
      new KubeApiError(0, `watch ${url.pathname}: no answer from the API server in ${connectTimeoutMs} ms`),
    );
  }, connectTimeoutMs);
  if (signal?.aborted) {
    queueMicrotask(stop);
  } else {
    signal?.addEventListener("abort", stop, { once: true });
  }

  req.on("socket", (socket) => socket.setKeepAlive(true, 30_000));
  req.on("error", (err) => {
    if (finished) return;
    finish(err instanceof KubeApiError ? err : new KubeApiError(0, `watch ${url.pathname}: ${err.message}`));
  });
  req.on("response", (res) => {
    answered = true;
    clearTimeout(connectTimer);
    const status = res.statusCode ?? 0;
    settleConnected(status);
    res.setEncoding("utf8");
    if (status !== 200) readErrorAnswer(res, (text) => finish(answerError(url, status, text)), finish);
    else readEventLines(res, { finished: () => finished, deliver, finish });
  });
  req.end();

  return { connected, stop };
}

/** The body of an answer that is not a watch (at most 64 KiB of it), for the error. */
function readErrorAnswer(
  res: http.IncomingMessage,
  onText: (text: string) => void,
  onError: (err: Error) => void,
): void {
  let text = "";
  res.on("data", (chunk: string) => {
    if (text.length < 64 * 1024) text += chunk;
  });
  res.on("end", () => onText(text));
  res.on("error", onError);
}

/** A watch's answer, one event per line, until it ends or the stream is finished. */
function readEventLines(
  res: http.IncomingMessage,
  stream: { finished(): boolean; deliver(line: string): void; finish(err: Error | undefined): void },
): void {
  let pending = "";
  res.on("data", (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf("\n");
    while (newline !== -1 && !stream.finished()) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) stream.deliver(line);
      newline = pending.indexOf("\n");
    }
  });
  res.on("end", () => stream.finish(undefined));
  res.on("close", () => stream.finish(undefined));
  res.on("error", (err) => stream.finish(err));
}

function answerError(url: URL, status: number, text: string): KubeApiError {
  let apiStatus: ApiStatus | undefined;
  try {
    apiStatus = text ? (JSON.parse(text) as ApiStatus) : undefined;
  } catch {
    apiStatus = undefined;
  }
  const message = apiStatus?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
  return new KubeApiError(status, `watch ${url.pathname}: ${message}`, apiStatus);
}
