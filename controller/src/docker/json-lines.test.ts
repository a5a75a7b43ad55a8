import { test } from "node:test";
import assert from "node:assert/strict";
import { jsonLines, messageError } from "./json-lines.js";

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

async function collect(parts: string[]) {
  const out = [];
  for await (const message of jsonLines(chunks(...parts))) out.push(message);
  return out;
}

test("jsonLines joins lines split across chunks and skips blank lines", async () => {
  assert.deepEqual(
    await collect(['{"status":"Pul', 'ling"}\n\n{"id":"a",', '"status":"Done"}\r\n{"last":true}']),
    [{ status: "Pulling" }, { id: "a", status: "Done" }, { last: true }],
  );
});

test("jsonLines keeps a line that is not JSON as text", async () => {
  assert.deepEqual(await collect(["oops, plain text\n[1,2]\n"]), [
    { text: "oops, plain text" },
    { text: "[1,2]" },
  ]);
});

test("messageError prefers errorDetail.message", () => {
  assert.equal(messageError({ error: "short", errorDetail: { message: "detailed" } }), "detailed");
  assert.equal(messageError({ error: "short" }), "short");
  assert.equal(messageError({ status: "fine" }), undefined);
});
