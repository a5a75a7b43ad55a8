import assert from "node:assert/strict";
import { test } from "node:test";
import { committedCrd, version, walk } from "../testing/crd-schemas.js";
import { CPU_QUANTITY_PATTERN, MEMORY_QUANTITY_PATTERN, cpuNanos, memoryBytes } from "./quantity.js";

test("memory quantities are whole bytes, with decimal and binary suffixes", () => {
  assert.equal(memoryBytes("64Mi"), 64 * 2 ** 20);
  assert.equal(memoryBytes("1.5M"), 1_500_000);
  assert.equal(memoryBytes("2G"), 2e9);
  assert.equal(memoryBytes("4096"), 4096);
  assert.equal(memoryBytes("0.5"), 1, "rounded to a whole byte");
  for (const text of ["lots", "x1Gi", " 2Gi", "1Gb", "-1", "500m", ""])
    assert.equal(memoryBytes(text), undefined, text);
});

test("CPU quantities are whole NanoCpus: millicores or cores with a fraction", () => {
  assert.equal(cpuNanos("500m"), 500_000_000);
  assert.equal(cpuNanos("1.5"), 1_500_000_000);
  assert.equal(cpuNanos("0.1")! + cpuNanos("0.2")!, cpuNanos("0.3"), "sums are exact");
  for (const text of ["1.5m", "2k", "-1", "1 ", "m", ""]) assert.equal(cpuNanos(text), undefined, text);
});

test("the CRD schema checks memory and CPU fields with the patterns the code parses with", () => {
  const found: string[] = [];
  for (const file of ["definition.yaml", "instance.yaml", "node.yaml"]) {
    for (const [at, prop] of walk(version(committedCrd(file)).schema.openAPIV3Schema, "")) {
      if (at.endsWith(".memory")) {
        assert.equal(prop.pattern, MEMORY_QUANTITY_PATTERN, `${file}${at}`);
        found.push(`${file}${at}`);
      }
      if (at.endsWith(".cpus")) {
        assert.equal(prop.pattern, CPU_QUANTITY_PATTERN, `${file}${at}`);
        found.push(`${file}${at}`);
      }
    }
  }
  assert.deepEqual(found.sort(), [
    "definition.yaml.spec.resources.cpus",
    "definition.yaml.spec.resources.memory",
    "instance.yaml.spec.template.resources.cpus",
    "instance.yaml.spec.template.resources.memory",
    "node.yaml.spec.capacity.cpus",
    "node.yaml.spec.capacity.memory",
    "node.yaml.status.allocatable.cpus",
    "node.yaml.status.allocatable.memory",
  ]);
});
