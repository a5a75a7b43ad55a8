/**
 * One candidate for the leader-election test: a Manager with leader election and one
 * controller that reconciles the ConfigMaps of a namespace every 200 ms while it leads.
 * It prints one JSON line per reconcile and per leadership change, and shuts down
 * gracefully (releasing the lease) on SIGTERM.
 */
import { CONFIGMAPS } from "../../controller/src/kube/resources.js";
import { Controller } from "../../controller/src/runtime/controller.js";
import { Manager } from "../../controller/src/runtime/manager.js";
import { Shutdown } from "../../controller/src/runtime/shutdown.js";
import { loadKubeConfig } from "../../controller/src/kube/config.js";
import { newKubeClient } from "../../controller/src/kube/client.js";

const identity = process.env.CANDIDATE_ID ?? `candidate-${process.pid}`;
const namespace = process.env.CANDIDATE_NAMESPACE ?? "default";
const say = (event: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(JSON.stringify({ event, identity, t: Date.now(), ...fields }) + "\n");
};

const client = newKubeClient(loadKubeConfig());
const manager = new Manager({
  client,
  leaderElection: {
    namespace,
    name: "runtime-leader-test",
    identity,
    leaseDurationMs: 4_000,
    renewDeadlineMs: 3_000,
    retryPeriodMs: 500,
    onNewLeader: (leader) => say("observed-leader", { leader }),
  },
});
const informer = manager.informer(CONFIGMAPS, { namespace });
const controller = new Controller({
  name: `leader-test-${identity}`,
  reconciler: {
    async reconcile(request) {
      say("reconcile", { key: request.key });
      return { requeueAfterMs: 200 };
    },
  },
});
controller.for(informer);
manager.add(controller);

const shutdown = new Shutdown({ deadlineMs: 10_000 });
shutdown.installSignalHandlers();
say("ready");
// The shutdown signal stops the manager; the process exits once it has drained and released.
const running = manager.start(shutdown.signal).then(() => say("stopped"));
shutdown.onShutdown("manager", () => running);
await running;
