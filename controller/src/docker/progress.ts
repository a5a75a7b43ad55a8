/**
 * Reading the engine's pull and build progress streams: when they finish, what they
 * produced, and how they failed.
 */
import { BuildFailedError } from "./errors.js";
import { type JsonMessage, messageError } from "./json-lines.js";

/** How much build output a BuildFailedError keeps. */
export const BUILD_TAIL_LINES = 20;

/**
 * Follows a pull to its end. A registry failure arrives inside the successful (200)
 * response as an error message; it is thrown as an Error with the engine's text.
 */
export async function followPull(
  messages: AsyncIterable<JsonMessage>,
  onProgress?: (line: string) => void,
): Promise<void> {
  for await (const message of messages) {
    const error = messageError(message);
    if (error) throw new Error(error);
    if (onProgress && typeof message.status === "string") {
      onProgress(typeof message.id === "string" ? `${message.id}: ${message.status}` : message.status);
    }
  }
}

/**
 * Follows a classic-builder build to its end and returns the image id. Output lines go
 * to onOutput; a failure throws BuildFailedError with the last "Step n/m : ..." seen and
 * the last BUILD_TAIL_LINES lines.
 */
export async function followBuild(
  messages: AsyncIterable<JsonMessage>,
  onOutput?: (line: string) => void,
): Promise<string> {
  const tail: string[] = [];
  let step: string | undefined;
  let imageId: string | undefined;
  for await (const message of messages) {
    const error = messageError(message);
    if (error) throw new BuildFailedError(error, step, [...tail]);
    const aux = message.aux as { ID?: unknown } | undefined;
    if (aux && typeof aux.ID === "string") imageId = aux.ID;
    for (const line of outputText(message).split("\n")) {
      const trimmed = line.trimEnd();
      if (!trimmed) continue;
      if (/^Step \d+\/\d+ :/.test(trimmed)) step = trimmed;
      tail.push(trimmed);
      if (tail.length > BUILD_TAIL_LINES) tail.shift();
      onOutput?.(trimmed);
      // Older engines send no aux message; their last words name the image.
      const built = /^Successfully built ([0-9a-f]+)$/.exec(trimmed);
      if (built?.[1] && !imageId) imageId = built[1];
    }
  }
  if (!imageId) throw new BuildFailedError("the engine reported no image id", step, [...tail]);
  return imageId;
}

function outputText(message: JsonMessage): string {
  if (typeof message.stream === "string") return message.stream;
  if (typeof message.text === "string") return message.text;
  return "";
}
