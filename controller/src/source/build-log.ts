/**
 * The build log file of one image. A build's output is the repository's to choose, so the
 * file is capped: the first half of the cap is written as it comes, and of the rest only
 * the last lines (where a failure says what went wrong) are kept and written at the end.
 */
import { constants, type WriteStream } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../runtime/log.js";

/** Written files are created, truncated, and never opened through a symbolic link. */
export const WRITE_NO_FOLLOW =
  constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/** The default cap of one build log. */
export const DEFAULT_BUILD_LOG_BYTES = 4 * 1024 * 1024;

export interface BuildLog {
  write(line: string): void;
  close(): Promise<void>;
}

/** The build log file; a failure to write it is logged and never fails the build. */
export async function openBuildLog(
  path: string,
  log: Logger | undefined,
  maxBytes: number = DEFAULT_BUILD_LOG_BYTES,
): Promise<BuildLog> {
  let stream: WriteStream;
  try {
    await mkdir(dirname(path), { recursive: true });
    stream = (await open(path, WRITE_NO_FOLLOW, 0o644)).createWriteStream();
  } catch (err) {
    log?.warn("opening the build log failed", { logPath: path, error: String(err) });
    return { write() {}, close: () => Promise.resolve() };
  }
  let failed = false;
  stream.on("error", (err) => {
    failed = true;
    log?.warn("writing the build log failed", { logPath: path, error: String(err) });
  });
  const headBytes = Math.floor(maxBytes / 2);
  const tailBytes = maxBytes - headBytes;
  let written = 0;
  const tail: string[] = [];
  let tailSize = 0;
  let leftOut = 0;
  return {
    write(line) {
      if (failed) return;
      const text = `${line}\n`;
      const size = Buffer.byteLength(text);
      if (written + size <= headBytes && tail.length === 0) {
        written += size;
        stream.write(text);
        return;
      }
      tail.push(text.length > tailBytes ? text.slice(-tailBytes) : text);
      tailSize += Buffer.byteLength(tail[tail.length - 1] ?? "");
      while (tailSize > tailBytes && tail.length > 0) {
        const dropped = Buffer.byteLength(tail.shift() ?? "");
        tailSize -= dropped;
        leftOut += dropped;
      }
    },
    close: () =>
      new Promise<void>((done) => {
        if (failed) {
          done();
          return;
        }
        if (leftOut > 0)
          stream.write(
            `# ... ${leftOut} bytes of build output left out (the log is capped at ${maxBytes} bytes) ...\n`,
          );
        for (const text of tail) stream.write(text);
        stream.end(() => done());
      }),
  };
}
