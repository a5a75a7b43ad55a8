/**
 * A real Prometheus for the e2e tests: a scratch directory for its configuration and data,
 * the process on a free loopback port, stopped gracefully when the test ends.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { freePortRun, spawnForTest, waitFor } from "../harness/index.js";

/** A directory removed after the test: the configuration's files and the TSDB go here. */
export async function prometheusDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Runs `binary` with `config` (YAML, or JSON, which is YAML) written to dir/prometheus.yml
 * and its data in dir/data; resolves with its URL once /-/ready answers.
 */
export async function runPrometheus(
  t: TestContext,
  binary: string,
  dir: string,
  config: string,
): Promise<string> {
  await writeFile(join(dir, "prometheus.yml"), config);
  const port = await freePortRun(1);
  const prometheus = spawnForTest(t, binary, [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ]);
  t.after(async () => {
    if (prometheus.child.exitCode !== null) return;
    prometheus.child.kill("SIGTERM");
    await once(prometheus.child, "exit");
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    "prometheus to be ready",
    async () => {
      if (prometheus.child.exitCode !== null) {
        throw new Error(`prometheus exited (${prometheus.child.exitCode}):\n${prometheus.output()}`);
      }
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return res?.ok === true;
    },
    { timeoutMs: 30_000 },
  );
  return url;
}
