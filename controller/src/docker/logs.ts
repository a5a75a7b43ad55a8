/**
 * Container logs as text. Containers without a TTY (all of Berth's) log through the
 * engine's multiplexed format: frames of an 8-byte header (stream, 3 zero bytes, big-endian
 * length) and that many bytes of output.
 */

/** Output longer than this is cut from the front: the last lines say why a process ended. */
export const LOG_TEXT_LIMIT = 16 * 1024;

const HEADER_BYTES = 8;
const STDIN = 0;
const STDERR = 2;

/** The text of a multiplexed log buffer; a buffer that is not one is taken as plain text. */
export function demuxLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    if (buffer.length - offset < HEADER_BYTES || !isFrameHeader(buffer, offset)) {
      // Not (or no longer) framed: a TTY container, or an engine that sent plain text.
      parts.push(buffer.subarray(offset));
      break;
    }
    const length = buffer.readUInt32BE(offset + 4);
    const start = offset + HEADER_BYTES;
    parts.push(buffer.subarray(start, Math.min(buffer.length, start + length)));
    offset = start + length;
  }
  const text = Buffer.concat(parts).toString("utf8");
  return text.length > LOG_TEXT_LIMIT ? text.slice(text.length - LOG_TEXT_LIMIT) : text;
}

function isFrameHeader(buffer: Buffer, offset: number): boolean {
  const stream = buffer[offset] ?? -1;
  return (
    stream >= STDIN &&
    stream <= STDERR &&
    buffer[offset + 1] === 0 &&
    buffer[offset + 2] === 0 &&
    buffer[offset + 3] === 0
  );
}
