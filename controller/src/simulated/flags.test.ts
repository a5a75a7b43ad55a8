import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFlags } from "../runtime/flags.js";
import { runtimeFlags, simulatedFromFlags } from "./flags.js";

const parse = (args: string[]) => simulatedFromFlags(parseFlags(runtimeFlags, args, {}).values);

test("the Docker runtime is the default, and the simulated flags are refused without --runtime=simulated", () => {
  assert.equal(parse([]), undefined);
  assert.throws(() => parse(["--simulated-nodes=5"]), /need --runtime=simulated/);
  assert.throws(() => parse(["--simulated-failure-rate=0.5"]), /need --runtime=simulated/);
});

test("--runtime=simulated takes the Node count and the containers' behaviour", () => {
  assert.deepEqual(
    parse([
      "--runtime=simulated",
      "--simulated-nodes=100",
      "--simulated-start-latency=50ms",
      "--simulated-readiness-delay=1s",
      "--simulated-failure-rate=0.1",
    ]),
    { nodes: 100, behaviour: { startLatencyMs: 50, readinessDelayMs: 1000, failureRate: 0.1 } },
  );
  assert.throws(() => parse(["--runtime=simulated", "--simulated-nodes=1001"]), /between 1 and 1000/);
  assert.throws(() => parse(["--runtime=simulated", "--simulated-failure-rate=2"]), /between 0 and 1/);
  assert.throws(() => parse(["--runtime=podman"]));
});
