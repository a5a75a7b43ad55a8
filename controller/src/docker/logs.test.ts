import { test } from "node:test";
import assert from "node:assert/strict";
import { LOG_TEXT_LIMIT, demuxLogs } from "./logs.js";

function frame(stream: number, text: string): Buffer {
  const body = Buffer.from(text, "utf8");
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

test("multiplexed stdout and stderr frames become their text, in order", () => {
  const buffer = Buffer.concat([
    frame(1, "starting\n"),
    frame(2, "[FATAL tini (7)] exec /no/such failed: No such file or directory\n"),
  ]);
  assert.equal(
    demuxLogs(buffer),
    "starting\n[FATAL tini (7)] exec /no/such failed: No such file or directory\n",
  );
});

test("plain text (a TTY container) is taken as it is", () => {
  assert.equal(demuxLogs(Buffer.from("hello\nworld\n")), "hello\nworld\n");
});

test("a frame cut short keeps what arrived; an empty buffer is empty text", () => {
  const whole = frame(2, "permission denied\n");
  assert.equal(demuxLogs(whole.subarray(0, whole.length - 3)), "permission deni");
  assert.equal(demuxLogs(Buffer.alloc(0)), "");
});

test("long output keeps its end", () => {
  const text = demuxLogs(frame(1, `${"x".repeat(LOG_TEXT_LIMIT)}the end\n`));
  assert.equal(text.length, LOG_TEXT_LIMIT);
  assert.ok(text.endsWith("the end\n"));
});
