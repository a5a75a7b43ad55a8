import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { createLogger, type LogLevel } from "./log.js";

/** Lines written at `level`, and how often a field was turned into JSON. */
function logAt(level: LogLevel): { lines: string[]; serialized: () => number } {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on("data", (chunk: Buffer) => lines.push(...chunk.toString().trim().split("\n")));
  let serialized = 0;
  const field = { toJSON: () => ++serialized };
  const logger = createLogger({ level, stream }).child({ component: "test" });
  logger.debug("a pass", { field });
  logger.info("started", { field });
  logger.warn("slow", { field });
  return { lines, serialized: () => serialized };
}

test("a line below the level is neither written nor formatted; one at or above it is both", async () => {
  const warn = logAt("warn");
  const debug = logAt("debug");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    warn.lines.map((line) => (JSON.parse(line) as { message: string }).message),
    ["slow"],
  );
  assert.equal(warn.serialized(), 1, "only the warn line's field is serialized");
  assert.equal(debug.lines.length, 3);
  assert.equal(debug.serialized(), 3);
});
