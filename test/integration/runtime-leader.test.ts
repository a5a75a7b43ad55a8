/**
 * Two controller processes against one API server: exactly one reconciles at any time, a
 * SIGKILLed leader is replaced within the lease duration (plus the retry period the
 * successor polls with), and a SIGTERMed leader hands the lease back at once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import type { TestContext } from "node:test";
import { CONFIGMAPS } from "../../controller/src/kube/resources.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { env, spawnForTest, testNamespace, waitFor } from "../harness/index.js";

const candidateScript = path.resolve(import.meta.dirname, "runtime-leader-candidate.ts");
const LEASE_MS = 4_000;
const RETRY_MS = 500;

interface Line {
  event: string;
  identity: string;
  t: number;
}

function startCandidate(t: TestContext, id: string, namespace: string) {
  const proc = spawnForTest(t, process.execPath, ["--import", "tsx", candidateScript], {
    CANDIDATE_ID: id,
    CANDIDATE_NAMESPACE: namespace,
  });
  const lines = (): Line[] =>
    proc
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Line);
  return { ...proc, lines };
}

function reconcilesOf(candidate: { lines(): Line[] }): number[] {
  return candidate
    .lines()
    .filter((l) => l.event === "reconcile")
    .map((l) => l.t);
}

test(
  "exactly one of two candidates reconciles; a killed leader is replaced within the lease",
  { timeout: 120_000 },
  async (t) => {
    const client = newKubeClient(env().kc);
    const ns = await testNamespace(t);
    await client.create(CONFIGMAPS, { metadata: { namespace: ns, name: "work" } });
    const a = startCandidate(t, "a", ns);
    await waitFor("a to reconcile", () => reconcilesOf(a).length > 0, { timeoutMs: 30_000 });
    const b = startCandidate(t, "b", ns);
    await waitFor("b to start", () => b.lines().some((l) => l.event === "ready"), { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(reconcilesOf(b).length, 0, "the standby must not reconcile while the leader renews");

    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await waitFor("b to take over", () => reconcilesOf(b).length > 0, { timeoutMs: 30_000 });
    const handover = reconcilesOf(b)[0]! - killedAt;
    t.diagnostic(`handover after SIGKILL took ${handover} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    assert.ok(handover <= LEASE_MS + 2 * RETRY_MS + 1_000, `handover took ${handover} ms`);
    assert.ok(
      reconcilesOf(a).every((time) => time <= killedAt),
      "a never reconciled after it was killed (it could not have)",
    );

    // A graceful stop hands the lease back, so the next candidate need not wait it out.
    const c = startCandidate(t, "c", ns);
    await waitFor("c to start", () => c.lines().some((l) => l.event === "ready"), { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(reconcilesOf(c).length, 0);
    const termAt = Date.now();
    b.child.kill("SIGTERM");
    await waitFor("b to exit", () => b.child.exitCode !== null, { timeoutMs: 20_000 });
    assert.equal(b.child.exitCode, 0, `b exited badly:\n${b.output()}`);
    const lastOfB = Math.max(...reconcilesOf(b));
    await waitFor("c to take over", () => reconcilesOf(c).length > 0, { timeoutMs: 30_000 });
    const firstOfC = reconcilesOf(c)[0]!;
    t.diagnostic(`handover after SIGTERM took ${firstOfC - termAt} ms`);
    assert.ok(firstOfC > lastOfB, "c started only after b stopped reconciling");
    assert.ok(firstOfC - termAt < LEASE_MS, "a released lease is taken without waiting for it to expire");
  },
);
