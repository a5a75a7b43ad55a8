/**
 * Two controller processes against one API server: exactly one reconciles at any time, a
 * SIGKILLed leader is replaced once its lease has run out (not sooner), and a SIGTERMed
 * leader hands the lease back (the Lease is seen without a holder) for the next to take.
 * The handover times are reported as diagnostics; the bounds asserted on them come from
 * the configured lease timings, the upper one with a generous margin.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import type { TestContext } from "node:test";
import type { KubeClient } from "../../controller/src/kube/client.js";
import type { Lease } from "../../controller/src/kube/resources.js";
import { CONFIGMAPS, LEASES } from "../../controller/src/kube/resources.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import { env, spawnForTest, testNamespace, waitFor } from "../harness/index.js";

const candidateScript = path.resolve(import.meta.dirname, "runtime-leader-candidate.ts");
/** The candidates' settings (runtime-leader-candidate.ts). */
const LEASE_MS = 4_000;
const RETRY_MS = 500;
const LEASE_NAME = "runtime-leader-test";
/** Room for a busy machine on top of the configured timings, in upper bounds only. */
const MARGIN_MS = 10_000;

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

/** When the candidate first said it saw `leader` holding the lease. */
function observedLeaderAt(candidate: { lines(): Line[] }, leader: string): number | undefined {
  return candidate
    .lines()
    .find((l) => l.event === "observed-leader" && (l as { leader?: string }).leader === leader)?.t;
}

/**
 * Waits until the standby has had every chance to take the lease wrongly: it has seen the
 * leader hold it, and the leader is still reconciling later than a lease duration (plus
 * two retry periods) after that, the longest a standby that honoured no renewal would wait.
 */
async function standbyHadItsChance(
  standby: { lines(): Line[] },
  leader: { lines(): Line[] },
  leaderId: string,
): Promise<void> {
  const seenAt = await waitFor(
    `the standby to see ${leaderId} lead`,
    () => observedLeaderAt(standby, leaderId),
    {
      timeoutMs: 30_000,
    },
  );
  await waitFor(
    `${leaderId} to reconcile past the standby's chance to take over`,
    () => reconcilesOf(leader).some((time) => time > seenAt + LEASE_MS + 2 * RETRY_MS),
    { timeoutMs: LEASE_MS + 2 * RETRY_MS + 30_000 },
  );
}

/** Every holder the Lease had, in order, from a watch that starts now. */
async function leaseHolders(t: TestContext, client: KubeClient, namespace: string): Promise<string[]> {
  const holders: string[] = [];
  const current = await client.get(LEASES, { namespace, name: LEASE_NAME });
  holders.push(current.spec?.holderIdentity ?? "");
  const handle = await client.watch(
    LEASES,
    {
      namespace,
      fieldSelector: `metadata.name=${LEASE_NAME}`,
      resourceVersion: current.metadata?.resourceVersion ?? "",
    },
    (event) => {
      if (event.type !== "MODIFIED" && event.type !== "ADDED") return;
      const holder = (event.object as Lease).spec?.holderIdentity ?? "";
      if (holders.at(-1) !== holder) holders.push(holder);
    },
    () => undefined,
  );
  t.after(() => handle.stop());
  return holders;
}

test(
  "exactly one of two candidates reconciles; a killed leader is replaced once its lease runs out",
  { timeout: 120_000 },
  async (t) => {
    const client = newKubeClient(env().kc);
    const ns = await testNamespace(t);
    await client.create(CONFIGMAPS, { metadata: { namespace: ns, name: "work" } });
    const a = startCandidate(t, "a", ns);
    await waitFor("a to reconcile", () => reconcilesOf(a).length > 0, { timeoutMs: 30_000 });
    const b = startCandidate(t, "b", ns);
    await standbyHadItsChance(b, a, "a");
    assert.equal(reconcilesOf(b).length, 0, "the standby must not reconcile while the leader renews");

    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await waitFor("b to take over", () => reconcilesOf(b).length > 0, { timeoutMs: 30_000 });
    const handover = reconcilesOf(b)[0]! - killedAt;
    t.diagnostic(`handover after SIGKILL took ${handover} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    // a renewed at most a retry period (and a request) before it was killed, and b waits a
    // whole lease after it last saw a renewal.
    assert.ok(
      handover >= LEASE_MS - 2 * RETRY_MS,
      `b took over ${handover} ms after the kill: before a's lease ran out`,
    );
    assert.ok(handover <= LEASE_MS + 2 * RETRY_MS + MARGIN_MS, `handover took ${handover} ms`);
    assert.ok(
      reconcilesOf(a).every((time) => time <= killedAt),
      "a never reconciled after it was killed (it could not have)",
    );

    // A graceful stop hands the lease back, so the next candidate need not wait it out.
    const c = startCandidate(t, "c", ns);
    await standbyHadItsChance(c, b, "b");
    assert.equal(reconcilesOf(c).length, 0);
    const holders = await leaseHolders(t, client, ns);
    const termAt = Date.now();
    b.child.kill("SIGTERM");
    await waitFor("b to exit", () => b.child.exitCode !== null, { timeoutMs: 20_000 });
    assert.equal(b.child.exitCode, 0, `b exited badly:\n${b.output()}`);
    const lastOfB = Math.max(...reconcilesOf(b));
    await waitFor("c to take over", () => reconcilesOf(c).length > 0, { timeoutMs: 30_000 });
    const firstOfC = reconcilesOf(c)[0]!;
    t.diagnostic(`handover after SIGTERM took ${firstOfC - termAt} ms`);
    assert.ok(firstOfC > lastOfB, "c started only after b stopped reconciling");
    await waitFor("the Lease to name c", () => holders.at(-1) === "c", { timeoutMs: 10_000 });
    assert.deepEqual(holders, ["b", "", "c"], "b handed the lease back before c took it");
  },
);
