// The web index's connection to the registry: the bearer token (sessionStorage only, sent
// in a header, never in a URL or cookie) and the event streams, read with fetch.

export const TOKEN_KEY = "berth-registry-token";
const connection = document.getElementById("connection");

/** What the page does when a stream is refused: set by the app. */
export const refusals = {
  /** 401: ask for a token. */
  unauthorized: () => {},
  /** Another 4xx: say what is not allowed. */
  refused: () => {},
};

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function headers(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

export function setConnection(state, text) {
  connection.dataset.state = state;
  connection.textContent = text;
}

async function errorMessage(res) {
  try {
    return (await res.json()).error?.message ?? `${res.status}`;
  } catch {
    return `${res.status}`;
  }
}

export async function getJson(path) {
  const res = await fetch(path, { headers: headers({ Accept: "application/json" }), cache: "no-store" });
  if (!res.ok) throw Object.assign(new Error(await errorMessage(res)), { status: res.status });
  return res.json();
}

/**
 * Follows one of the registry's event streams: `onData` gets each view. A dropped
 * connection shows "Reconnecting" and is opened again (backoff up to 10 s); a 401 asks
 * for a token, another refusal is shown and ends the stream. Returns its stop function.
 */
export function follow(path, onData) {
  let stopped = false;
  let abort;
  let backoff = 500;
  const run = async () => {
    setConnection("connecting", "Connecting…");
    while (!stopped) {
      abort = new AbortController();
      try {
        const res = await fetch(path, {
          headers: headers({ Accept: "text/event-stream" }),
          signal: abort.signal,
          cache: "no-store",
        });
        if (res.status === 401) return refusals.unauthorized(await errorMessage(res));
        if (res.status >= 400 && res.status < 500 && res.status !== 429) {
          setConnection("error", "Refused");
          return refusals.refused(await errorMessage(res));
        }
        if (!res.ok || !res.body) throw new Error(`${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split("\n")
              .filter((line) => line.startsWith("data:"))
              .map((line) => line.slice(5).trimStart())
              .join("\n");
            if (data) {
              backoff = 500;
              setConnection("live", "Live");
              onData(JSON.parse(data));
            }
          }
        }
      } catch {
        // The connection failed or dropped: reconnect below.
      }
      if (stopped) return;
      setConnection("reconnecting", "Reconnecting…");
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 10_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    abort?.abort();
  };
}
