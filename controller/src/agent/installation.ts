/**
 * Which Berth installation a container belongs to. Two installations (two clusters, or a
 * test cluster next to a real one) may run agents with the same Node name against one
 * Docker engine; the node label alone would then let each collect the other's containers
 * as orphans. Every container therefore carries `berth.dev/installation`, and an agent
 * touches only containers with its own value.
 *
 * The value is the UID of the namespace that holds the agents' identities and Node Leases
 * (`berth-system`, or --node-lease-namespace): stable for the life of the installation and
 * different in every cluster. --installation overrides it (for example to keep one value
 * across a cluster rebuilt from scratch).
 *
 * Containers from before the label (managed by Berth, for this node, without an
 * installation) are "unclaimed": the agent adopts one when an Instance of its own bound to
 * this node has its namespace and name, and otherwise leaves it running and logs it once,
 * since it may belong to another installation that has not been upgraded yet.
 */
import { LABELS } from "../api/vocabulary.js";
import type { KubeClient } from "../kube/client.js";
import { NAMESPACES } from "../kube/resources.js";
import type { Logger } from "../runtime/log.js";

export type ContainerOwnership = "own" | "unclaimed" | "foreign";

/** Whose a container is, from its labels. */
export function ownershipOf(
  labels: Readonly<Record<string, string>>,
  installation: string,
): ContainerOwnership {
  const label = labels[LABELS.installation];
  if (label === undefined || label === "") return "unclaimed";
  return label === installation ? "own" : "foreign";
}

/** Label values are at most 63 characters of letters, digits, '-', '_' and '.', alphanumeric at both ends. */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** What is wrong with an --installation value; undefined when it is usable. */
export function installationProblem(value: string): string | undefined {
  return LABEL_VALUE.test(value)
    ? undefined
    : "must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
}

/** The installation identity: the flag's value, else the UID of the agents' namespace. */
export async function resolveInstallation(
  client: KubeClient,
  options: { installation: string; leaseNamespace: string },
): Promise<string> {
  if (options.installation) return options.installation;
  const namespace = await client.get(NAMESPACES, { name: options.leaseNamespace });
  const uid = namespace.metadata?.uid;
  if (!uid) throw new Error(`namespace ${options.leaseNamespace} has no UID to identify this installation`);
  return uid;
}

/** Logs each unclaimed container once per agent process, so an operator can see and decide. */
export class UnclaimedContainerLog {
  private readonly seen = new Set<string>();

  constructor(private readonly logger: Logger) {}

  report(container: { id: string; labels: Readonly<Record<string, string>> }): void {
    if (this.seen.has(container.id)) return;
    this.seen.add(container.id);
    this.logger.warn(
      "leaving a Berth container without an installation label: no Instance of this installation wants it; " +
        "remove it by hand (docker rm -f) if it is this installation's leftover",
      {
        containerId: container.id,
        namespace: container.labels[LABELS.namespace],
        name: container.labels[LABELS.instance],
      },
    );
  }
}
