import type { Clock } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";
import { classifyDockerError } from "./error-classification.js";
import { type DockerError, EngineUnreachableError } from "./errors.js";
import { type JsonMessage, jsonLines } from "./json-lines.js";

export const CONTAINER_ACTIONS = ["start", "die", "destroy", "oom"] as const;
export type ContainerAction = (typeof CONTAINER_ACTIONS)[number];

export interface ContainerEvent {
  type: "container";
  action: ContainerAction;
  containerId: string;
  /** The container's berth.dev/* labels. */
  labels: Record<string, string>;
  /** For die: the exit code. */
  exitCode?: number;
  /** When the engine saw it, in seconds since the epoch. */
  time: number;
}

/**
 * What changes which image a name stands for on the engine (an image removed, a tag moved,
 * an image pulled, loaded or imported): whoever remembers images looks again.
 */
export const IMAGE_ACTIONS = ["delete", "untag", "tag", "pull", "load", "import"] as const;

export interface ImageEvent {
  type: "image";
  action: string;
  /** The image's id, or the name it was pulled or tagged as. */
  image: string;
  /** When the engine saw it, in seconds since the epoch. */
  time: number;
}

/** The stream broke and was connected again: events may have been missed, so relist. */
export interface StreamRestartedEvent {
  type: "stream-restarted";
  error: DockerError;
}

export type EngineEvent = ContainerEvent | StreamRestartedEvent;

export interface EventStreamOptions {
  /** Ends the stream. */
  signal: AbortSignal;
  /** Called each time the stream is open (first and after every reconnect). */
  onConnected?: () => void;
  /** Called each time the stream broke (events may go missed until onConnected). */
  onBroken?: () => void;
  /** Replay events from this time on (seconds since the epoch); only new events when absent. */
  since?: number;
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Where the reconnect delays are waited; the real clock by default. */
  clock?: Clock;
}

export interface EventSource {
  engineUrl: string;
  logger: Logger;
  /** Opens the engine's event stream; `since` in seconds since the epoch. */
  connect(since: number | undefined, signal: AbortSignal): Promise<NodeJS.ReadableStream>;
}

const BERTH_LABEL_PREFIX = "berth.dev/";

/** A container event from the engine's /events message, or undefined for anything else. */
export function toContainerEvent(message: JsonMessage): ContainerEvent | undefined {
  if (message.Type !== "container") return undefined;
  const action = message.Action;
  if (typeof action !== "string" || !(CONTAINER_ACTIONS as readonly string[]).includes(action))
    return undefined;
  const actor = message.Actor as { ID?: unknown; Attributes?: Record<string, unknown> } | undefined;
  if (!actor || typeof actor.ID !== "string") return undefined;
  const attributes = actor.Attributes ?? {};
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith(BERTH_LABEL_PREFIX) && typeof value === "string") labels[key] = value;
  }
  const event: ContainerEvent = {
    type: "container",
    action: action as ContainerAction,
    containerId: actor.ID,
    labels,
    time: typeof message.time === "number" ? message.time : 0,
  };
  const exitCode = Number(attributes.exitCode);
  if (action === "die" && typeof attributes.exitCode === "string" && Number.isInteger(exitCode)) {
    event.exitCode = exitCode;
  }
  return event;
}

/** An image event from the engine's /events message, or undefined for anything else. */
export function toImageEvent(message: JsonMessage): ImageEvent | undefined {
  if (message.Type !== "image" || typeof message.Action !== "string") return undefined;
  const actor = message.Actor as { ID?: unknown } | undefined;
  return {
    type: "image",
    action: message.Action,
    image: typeof actor?.ID === "string" ? actor.ID : "",
    time: typeof message.time === "number" ? message.time : 0,
  };
}

/**
 * Yields container events (or what `parse` makes of the messages) until options.signal aborts, reconnecting with exponential
 * backoff. A reconnect resumes from the last event's second (events in that second may
 * come twice; consumers reconcile state, so that is harmless) and is announced with a
 * stream-restarted event once the new stream is open.
 */
export function streamEngineEvents(
  source: EventSource,
  options: EventStreamOptions,
): AsyncGenerator<EngineEvent> {
  return streamEvents(source, options, toContainerEvent);
}

/** One attempt to open the stream: the stream, or why it failed (logged unless aborted). */
async function connectOnce(
  source: EventSource,
  since: number | undefined,
  signal: AbortSignal,
  retryInMs: number,
): Promise<{ stream: NodeJS.ReadableStream } | { failure: DockerError }> {
  try {
    return { stream: await source.connect(since, signal) };
  } catch (err) {
    const failure = classifyDockerError(err, { operation: "events", engineUrl: source.engineUrl });
    if (!signal.aborted) {
      source.logger.warn("docker event stream connect failed", {
        engine: source.engineUrl,
        retryInMs,
        ...errorFields(err),
      });
    }
    return { failure };
  }
}

/** streamEngineEvents for any kind of engine event: `parse` picks and shapes the messages. */
export async function* streamEvents<E extends { time: number }>(
  source: EventSource,
  options: EventStreamOptions,
  parse: (message: JsonMessage) => E | undefined,
): AsyncGenerator<E | StreamRestartedEvent> {
  const { signal } = options;
  const clock = options.clock ?? realClock;
  const minDelay = options.minReconnectDelayMs ?? 500;
  const maxDelay = options.maxReconnectDelayMs ?? 30_000;
  let delay = minDelay;
  let since = options.since;
  let brokenBy: DockerError | undefined;
  while (!signal.aborted) {
    const connected = await connectOnce(source, since, signal, delay);
    if ("failure" in connected) {
      if (signal.aborted) return;
      brokenBy = connected.failure;
      await clock.sleep(delay, signal);
      delay = Math.min(delay * 2, maxDelay);
      continue;
    }
    const stream = connected.stream;
    const destroy = () => (stream as unknown as { destroy(): void }).destroy();
    signal.addEventListener("abort", destroy, { once: true });
    options.onConnected?.();
    try {
      if (brokenBy) {
        yield { type: "stream-restarted", error: brokenBy };
        brokenBy = undefined;
      }
      delay = minDelay;
      for await (const message of jsonLines(stream as AsyncIterable<Buffer>)) {
        const event = parse(message);
        if (!event) continue;
        if (event.time > 0) since = event.time;
        yield event;
      }
      brokenBy = new EngineUnreachableError("events", source.engineUrl, "the engine closed the event stream");
    } catch (err) {
      if (signal.aborted) return;
      brokenBy = classifyDockerError(err, { operation: "events", engineUrl: source.engineUrl });
    } finally {
      signal.removeEventListener("abort", destroy);
      destroy();
    }
    if (signal.aborted) return;
    options.onBroken?.();
    source.logger.warn("docker event stream broke", {
      engine: source.engineUrl,
      retryInMs: delay,
      error: brokenBy?.message,
    });
    await clock.sleep(delay, signal);
    delay = Math.min(delay * 2, maxDelay);
  }
}
