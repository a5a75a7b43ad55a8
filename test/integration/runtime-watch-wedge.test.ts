/**
 * A watch that connects but never gets an answer must not wedge an informer: a TCP proxy
 * in front of the real API server, while the informer reconnects, accepts connections and
 * forwards nothing (as a wedged load balancer or a half-dead server does). Once the proxy
 * heals, what happened meanwhile reaches the cache within twice the silence timeout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { CONFIGMAPS } from "../../controller/src/kube/resources.js";
import { Informer } from "../../controller/src/runtime/informer.js";
import { newKubeClient } from "../../controller/src/kube/client.js";
import type { ConfigMap } from "../../controller/src/kube/resources.js";
import { env, testNamespace, waitFor } from "../harness/index.js";

/** A loopback TCP proxy that forwards to the API server, or swallows new connections. */
class WedgingProxy {
  private readonly server: net.Server;
  private readonly forwarded = new Set<net.Socket>();
  private readonly swallowed = new Set<net.Socket>();
  private wedged = false;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections accepted while wedged: held open, nothing read from or written to them. */
  swallowedCount(): number {
    return this.swallowed.size;
  }

  /** From now on new connections are swallowed, and the open ones are cut. */
  wedge(): void {
    this.wedged = true;
    for (const socket of this.forwarded) socket.destroy();
    this.forwarded.clear();
  }

  /** New connections are forwarded again; the swallowed ones stay open and silent. */
  heal(): void {
    this.wedged = false;
  }

  async close(): Promise<void> {
    for (const socket of [...this.forwarded, ...this.swallowed]) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    client.on("error", () => undefined);
    if (this.wedged) {
      client.pause();
      this.swallowed.add(client);
      return;
    }
    const upstream = net.connect(this.target);
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    this.forwarded.add(client);
    this.forwarded.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** The test's kubeconfig with the server swapped for the proxy's address. */
function throughProxy(kc: KubeConfig, port: number): KubeConfig {
  const proxied = new KubeConfig();
  proxied.loadFromString(kc.exportConfig());
  const current = proxied.getCurrentCluster();
  assert.ok(current, "the test kubeconfig has a current cluster");
  const clusters = proxied.clusters.map((cluster) =>
    cluster.name === current.name ? { ...cluster, server: `https://127.0.0.1:${port}` } : cluster,
  );
  proxied.loadFromOptions({
    clusters,
    users: proxied.users,
    contexts: proxied.contexts,
    currentContext: proxied.currentContext,
  });
  return proxied;
}

test(
  "an informer whose watch reconnects into a silent connection recovers within twice the silence timeout",
  { timeout: 120_000 },
  async (t) => {
    const { kc } = env();
    const direct = newKubeClient(kc);
    const ns = await testNamespace(t);
    const server = new URL(kc.getCurrentCluster()?.server ?? "");
    assert.equal(server.hostname, "127.0.0.1", "the proxy stands in front of a loopback API server");
    const proxy = new WedgingProxy({ host: server.hostname, port: Number(server.port) });
    const proxyPort = await proxy.listen();
    t.after(() => proxy.close());

    const silenceTimeoutMs = 5_000;
    // A request timeout far beyond the test: only the informer's watchdog can end the stall.
    const client = newKubeClient(throughProxy(kc, proxyPort), { requestTimeoutMs: 600_000 });
    const informer = new Informer(client, CONFIGMAPS, {
      namespace: ns,
      silenceTimeoutMs,
      backoffInitialMs: 100,
      backoffMaxMs: 500,
    });
    informer.start();
    t.after(() => informer.stop());
    assert.equal(await informer.waitForSync(AbortSignal.timeout(30_000)), true);
    await direct.create<ConfigMap>(CONFIGMAPS, { metadata: { namespace: ns, name: "before" } });
    await waitFor("the informer to see an object through the proxy", () => informer.get(ns, "before"));

    proxy.wedge();
    await waitFor("the informer to reconnect into the wedged proxy", () => proxy.swallowedCount() > 0, {
      intervalMs: 20,
    });
    proxy.heal();
    const healedAt = Date.now();
    await direct.create<ConfigMap>(CONFIGMAPS, { metadata: { namespace: ns, name: "after" } });
    // The stalled watch began before the heal: the watchdog ends it within one silence
    // timeout of that, and one more covers the backoff and the new watch.
    await waitFor("the object created after the heal to reach the cache", () => informer.get(ns, "after"), {
      timeoutMs: 2 * silenceTimeoutMs,
      intervalMs: 50,
    });
    const elapsed = Date.now() - healedAt;
    assert.ok(elapsed <= 2 * silenceTimeoutMs, `seen ${elapsed} ms after the heal`);
  },
);
