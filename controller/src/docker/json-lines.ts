/**
 * The engine streams progress (pull, build, events) as JSON objects, one per line, in
 * chunks that split lines anywhere.
 */
export type JsonMessage = Record<string, unknown>;

/** Yields each JSON object of a stream of JSON lines. A line that is not JSON is yielded as {text}. */
export async function* jsonLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<JsonMessage> {
  let pending = "";
  for await (const chunk of stream) {
    pending += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const message = parseLine(line);
      if (message) yield message;
    }
  }
  const last = parseLine(pending);
  if (last) yield last;
}

function parseLine(line: string): JsonMessage | undefined {
  const trimmed = line.trim();
  if (!trimmed) return undefined;
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as JsonMessage;
  } catch {
    // Not JSON: the engine (or a proxy in front of it) sent plain text; keep it readable.
  }
  return { text: trimmed };
}

/** The error a progress message carries ({error, errorDetail: {message}}), if any. */
export function messageError(message: JsonMessage): string | undefined {
  const detail = message.errorDetail;
  if (detail && typeof detail === "object" && "message" in detail && typeof detail.message === "string") {
    return detail.message;
  }
  return typeof message.error === "string" ? message.error : undefined;
}
