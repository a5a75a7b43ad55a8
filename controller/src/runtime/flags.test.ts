import { test } from "node:test";
import assert from "node:assert/strict";
import { FlagError, defineFlags, formatHelp, parseFlags } from "./flags.js";

const specs = defineFlags({
  logLevel: {
    name: "log-level",
    env: "BERTH_LOG_LEVEL",
    type: "string",
    default: "info",
    choices: ["error", "warn", "info", "debug"],
    help: "How much to log.",
  },
  workers: {
    name: "workers",
    env: "BERTH_WORKERS",
    type: "int",
    default: 2,
    help: "Concurrent reconciles.",
    validate: (n: number) => (n < 1 ? "must be at least 1" : undefined),
  },
  leaseDuration: { name: "lease-duration", type: "duration", default: 15_000, help: "Lease duration." },
  leaderElect: {
    name: "leader-elect",
    env: "BERTH_LEADER_ELECT",
    type: "bool",
    default: true,
    help: "Elect.",
  },
});

test("flags beat env, env beats defaults, values are typed", () => {
  const { values } = parseFlags(specs, ["--workers", "4", "--lease-duration=2m", "--no-leader-elect"], {
    BERTH_LOG_LEVEL: "debug",
    BERTH_WORKERS: "9",
  });
  assert.deepEqual(values, { logLevel: "debug", workers: 4, leaseDuration: 120_000, leaderElect: false });
});

test("bad input names the flag or variable", () => {
  assert.throws(() => parseFlags(specs, ["--log-level", "loud"], {}), /--log-level: must be one of/);
  assert.throws(
    () => parseFlags(specs, [], { BERTH_WORKERS: "0" }),
    /BERTH_WORKERS \(--workers\): must be at least 1/,
  );
  assert.throws(() => parseFlags(specs, ["--lease-duration", "soon"], {}), /--lease-duration/);
  assert.throws(() => parseFlags(specs, ["--nope"], {}), FlagError);
});

test("--help lists every flag with its env variable and default", () => {
  const text = formatHelp(specs, "usage: berth controller [flags]");
  for (const line of [
    "--log-level",
    "env BERTH_LOG_LEVEL, default info",
    "--lease-duration",
    "default 15s",
  ]) {
    assert.ok(text.includes(line), `help lacks ${line}`);
  }
  assert.equal(parseFlags(specs, ["--help"], {}).help, true);
});
