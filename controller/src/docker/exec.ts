import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import type { Clock } from "../runtime/clock.js";
import { realClock } from "../runtime/clock.js";

/** Exec output beyond this is dropped: health check commands don't need more. */
export const EXEC_OUTPUT_LIMIT = 64 * 1024;
const EXEC_EXIT_POLL_MS = 25;

/** Reads an exec's multiplexed stdout/stderr until it ends, keeping the first EXEC_OUTPUT_LIMIT bytes. */
export function collectExecOutput(
  docker: Docker,
  stream: NodeJS.ReadWriteStream,
  signal: AbortSignal,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const sink = new PassThrough();
    const destroy = () => (stream as unknown as { destroy(): void }).destroy();
    sink.on("data", (chunk: Buffer) => {
      if (size >= EXEC_OUTPUT_LIMIT) return;
      const kept = chunk.subarray(0, EXEC_OUTPUT_LIMIT - size);
      chunks.push(kept);
      size += kept.length;
    });
    // Resolve once the sink has passed on everything the demuxer wrote into it.
    sink.once("end", () => {
      signal.removeEventListener("abort", destroy);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    docker.modem.demuxStream(stream, sink, sink);
    signal.addEventListener("abort", destroy, { once: true });
    const endSink = () => {
      if (!sink.writableEnded) sink.end();
    };
    stream.once("end", endSink);
    stream.once("close", endSink);
    stream.once("error", (err: Error) => {
      signal.removeEventListener("abort", destroy);
      reject(err);
    });
  });
}

/** The exit code of a finished exec; the engine may need a moment to record it after the output ends. */
export async function execExitCode(
  exec: Docker.Exec,
  abortSignal: AbortSignal,
  clock: Clock = realClock,
): Promise<number> {
  // Bounded by the call's deadline, which aborts the signal.
  for (;;) {
    const inspect = await exec.inspect({ abortSignal });
    if (!inspect.Running && typeof inspect.ExitCode === "number") return inspect.ExitCode;
    await clock.sleep(EXEC_EXIT_POLL_MS, abortSignal);
    if (abortSignal.aborted) throw abortSignal.reason;
  }
}
