/**
 * An informer against a private control plane that the test stops and starts again: the
 * informer must ride out the outage without ending the process, resume or relist (the
 * restarted API server's watch cache no longer knows the old resourceVersion: 410 Gone),
 * and end up with exactly what the server holds, deletes included.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { CONFIGMAPS } from "../../controller/src/kube/resources.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { informerRelists, informerWatchRestarts } from "../../controller/src/runtime/metrics.js";
import { isGone } from "../../controller/src/kube/errors.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import type { ConfigMap, KubeObject } from "../../controller/src/kube/resources.js";
import type { WatchEvent } from "../../controller/src/kube/client.js";
import { env, freePortRun, run, waitFor } from "../harness/index.js";

const script = path.resolve(import.meta.dirname, "../../hack/controlplane.sh");

async function controlPlane(verb: "start" | "stop", dir: string, port: number): Promise<void> {
  const result = await run("bash", [script, verb, "--dir", dir, "--port", String(port)], {
    timeoutMs: 180_000,
  });
  if (result.code !== 0) throw new Error(`controlplane.sh ${verb} failed: ${result.stderr}`);
}

/** The metric's total over every series of one informer resource. */
async function counter(metric: typeof informerRelists | typeof informerWatchRestarts, resource: string) {
  const values = (await metric.get()).values;
  return values.filter((v) => v.labels.resource === resource).reduce((sum, v) => sum + v.value, 0);
}

test(
  "the informer survives an API server restart and relists after 410 Gone",
  { timeout: 300_000 },
  async (t) => {
    env(); // the real parts must be there, as for every integration test
    const dir = mkdtempSync(path.join(tmpdir(), "berth-restart-"));
    // The apiserver's port, then etcd's client and peer ports.
    const port = await freePortRun(3);
    t.after(async () => {
      await controlPlane("stop", dir, port);
      rmSync(dir, { recursive: true, force: true });
    });
    await controlPlane("start", dir, port);
    const kc = new KubeConfig();
    kc.loadFromFile(path.join(dir, "kubeconfig"));
    const client = newKubeClient(kc, { requestTimeoutMs: 5_000 });

    const ns = "default";
    await client.create<ConfigMap>(CONFIGMAPS, {
      metadata: { namespace: ns, name: "before" },
      data: { v: "1" },
    });
    await client.create<ConfigMap>(CONFIGMAPS, {
      metadata: { namespace: ns, name: "doomed" },
      data: { v: "1" },
    });
    const deleted: string[] = [];
    const informer = new Informer(client, CONFIGMAPS, {
      namespace: ns,
      backoffInitialMs: 200,
      backoffMaxMs: 2_000,
    });
    informer.addHandler({ onDelete: (o) => deleted.push(o.metadata?.name ?? "") });
    informer.start();
    t.after(() => informer.stop());
    assert.equal(await informer.waitForSync(AbortSignal.timeout(30_000)), true);
    const staleVersion = informer.lastResourceVersion();
    const relistsBefore = await counter(informerRelists, "configmaps");

    await controlPlane("stop", dir, port);
    await controlPlane("start", dir, port);

    // The restarted server's watch cache starts at the current revision: older is 410 Gone.
    const outcome = await new Promise<{ code?: number; err?: Error }>((resolve, reject) => {
      client
        .watch(
          CONFIGMAPS,
          { namespace: ns, resourceVersion: staleVersion, timeoutSeconds: 5 },
          (event: WatchEvent<KubeObject>) => {
            if (event.type === "ERROR") resolve({ code: (event.object as { code?: number }).code });
          },
          (err) => resolve(err ? { err } : {}),
        )
        .catch(reject);
    });
    assert.ok(
      outcome.code === 410 || isGone(outcome.err),
      `expected 410 Gone, got ${JSON.stringify(outcome)}`,
    );

    await client.delete(CONFIGMAPS, { namespace: ns, name: "doomed" });
    await client.create<ConfigMap>(CONFIGMAPS, {
      metadata: { namespace: ns, name: "after" },
      data: { v: "2" },
    });
    await waitFor("the informer to catch up after the restart", () =>
      informer.get(ns, "after") !== undefined && informer.get(ns, "doomed") === undefined ? true : undefined,
    );
    assert.ok(informer.get(ns, "before"), "objects that survived stay cached");
    assert.ok(deleted.includes("doomed"), "the delete was reported to handlers");
    assert.ok((await counter(informerRelists, "configmaps")) > relistsBefore, "it relisted after 410");
    assert.ok((await counter(informerWatchRestarts, "configmaps")) > 0, "the watch was restarted");
  },
);
