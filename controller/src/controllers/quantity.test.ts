import assert from "node:assert/strict";
import { test } from "node:test";
import { parseQuantity } from "./quantity.js";

test("every suffix the API types allow has its own factor", () => {
  const expected: Array<[string, number]> = [
    ["3", 3],
    ["3m", 3e-3],
    ["3k", 3e3],
    ["3M", 3e6],
    ["3G", 3e9],
    ["3T", 3e12],
    ["3Ki", 3 * 1024],
    ["3Mi", 3 * 1024 ** 2],
    ["3Gi", 3 * 1024 ** 3],
    ["3Ti", 3 * 1024 ** 4],
  ];
  for (const [text, value] of expected) assert.equal(parseQuantity(text), value, text);
});

test("several digits and a fraction are read whole, with or without a suffix", () => {
  assert.equal(parseQuantity("128"), 128);
  assert.equal(parseQuantity("12.75"), 12.75);
  assert.equal(parseQuantity("1.5Gi"), 1.5 * 1024 ** 3);
  assert.equal(parseQuantity("250m"), 0.25);
  assert.equal(parseQuantity("\t64Mi\n"), 64 * 1024 ** 2, "surrounding blanks are ignored");
});

test("anything else is not a quantity", () => {
  for (const text of [
    "",
    " ",
    "Mi",
    "1.",
    ".5",
    "1.5.5",
    "-1",
    "+1",
    "1e3",
    "1 Gi",
    "1gi",
    "1Gib",
    "x1",
    "1Gix",
    "1Ei",
    "0x10",
  ]) {
    assert.equal(parseQuantity(text), undefined, JSON.stringify(text));
  }
  assert.equal(parseQuantity(undefined), undefined);
});
