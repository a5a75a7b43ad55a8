import { test } from "node:test";
import assert from "node:assert/strict";
import { checkDependencies, dependenciesSatisfied, findCycle, type DependencyGraph } from "./dependencies.js";

function graph(edges: Record<string, string[]>): DependencyGraph {
  return new Map(Object.entries(edges));
}

interface Case {
  name: string;
  edges: Record<string, string[]>;
  ready?: string[];
  check?: string;
  missing?: string[];
  cycle?: string[];
  notReady?: string[];
  satisfied: boolean;
}

const cases: Case[] = [
  { name: "no dependencies", edges: { web: [] }, satisfied: true },
  { name: "ready dependency", edges: { web: ["db"], db: [] }, ready: ["db"], satisfied: true },
  { name: "dependency not ready", edges: { web: ["db"], db: [] }, notReady: ["db"], satisfied: false },
  {
    name: "missing dependency",
    edges: { web: ["db", "cache"], cache: [] },
    ready: ["cache"],
    missing: ["db"],
    satisfied: false,
  },
  {
    name: "self dependency",
    edges: { web: ["web"] },
    ready: ["web"],
    cycle: ["web", "web"],
    satisfied: false,
  },
  {
    name: "two-node cycle",
    edges: { a: ["b"], b: ["a"] },
    ready: ["a", "b"],
    check: "a",
    cycle: ["a", "b", "a"],
    satisfied: false,
  },
  {
    name: "leads into a cycle it is not part of",
    edges: { web: ["a"], a: ["b"], b: ["a"] },
    check: "web",
    cycle: ["a", "b", "a"],
    notReady: ["a"],
    satisfied: false,
  },
  {
    name: "diamond is not a cycle",
    edges: { web: ["a", "b"], a: ["db"], b: ["db"], db: [] },
    ready: ["a", "b", "db"],
    satisfied: true,
  },
];

for (const c of cases) {
  test(`checkDependencies: ${c.name}`, () => {
    const ready = new Set(c.ready ?? []);
    const result = checkDependencies(c.check ?? "web", graph(c.edges), (d) => ready.has(d));
    assert.deepEqual(result.missing, c.missing ?? []);
    assert.deepEqual(result.cycle, c.cycle);
    assert.deepEqual(result.notReady, c.notReady ?? []);
    assert.equal(dependenciesSatisfied(result), c.satisfied);
  });
}

test("findCycle is deterministic and finds long cycles", () => {
  const g = graph({ a: ["c", "b"], b: ["c"], c: ["d"], d: ["b"] });
  assert.deepEqual(findCycle("a", g), ["b", "c", "d", "b"]);
  assert.equal(findCycle("a", graph({ a: ["b"], b: [] })), undefined);
});
