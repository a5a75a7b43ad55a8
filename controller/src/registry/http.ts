/** HTTP plumbing of the registry: JSON answers, errors that name the field, bounded bodies. */
import type http from "node:http";

/** An answer other than 200: status, a message for a person and the field at fault. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const badRequest = (field: string, message: string): HttpError =>
  new HttpError(400, `${field}: ${message}`, field);

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendPayload(res, status, JSON.stringify(body), headers);
}

/** A JSON text already serialized. */
export function sendPayload(
  res: http.ServerResponse,
  status: number,
  payload: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(payload),
    "Cache-Control": "no-store",
    ...headers,
  });
  res.end(payload);
}

export function sendError(res: http.ServerResponse, err: HttpError): void {
  const body: { error: { code: number; message: string; field?: string } } = {
    error: { code: err.status, message: err.message },
  };
  if (err.field) body.error.field = err.field;
  sendJson(res, err.status, body, err.headers);
}

/**
 * The request body as JSON, refused (400, nothing read further) beyond maxBytes or when it
 * is not a JSON object.
 */
export async function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "");
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw badRequest("body", `is ${declared} bytes; at most ${maxBytes} bytes are accepted`);
  }
  const type = String(req.headers["content-type"] ?? "application/json");
  if (!/^application\/json\b/i.test(type)) {
    throw badRequest("Content-Type", `must be application/json, not "${type}"`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw badRequest("body", `is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw badRequest("body", "is empty; a JSON object is expected");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest("body", `is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** The bearer token of the request, "" when there is none, undefined when the header is malformed. */
export function bearerToken(req: http.IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return "";
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/** Whether the peer connects from the loopback interface. */
export function fromLoopback(req: http.IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? "";
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}
