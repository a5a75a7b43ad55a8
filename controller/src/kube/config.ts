import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

export interface LoadKubeConfigOptions {
  /** The kubeconfig context to use instead of its current-context. */
  context?: string | undefined;
}

/** The kubeconfig has no context of the name asked for. */
export class UnknownContextError extends Error {
  constructor(
    readonly context: string,
    readonly known: readonly string[],
  ) {
    const choices = known.length > 0 ? `it has ${known.join(", ")}` : "it has none";
    super(`the kubeconfig has no context "${context}" (${choices})`);
    this.name = "UnknownContextError";
  }
}

/**
 * Loads how to reach the API server: $KUBECONFIG (or ~/.kube/config) when present,
 * otherwise the in-cluster service account. An explicit path wins over both, and may be a
 * list like KUBECONFIG's (files joined by ':'), merged the way kubectl does: the first file
 * that names a current-context sets it. An explicit context wins over the current-context.
 */
export function loadKubeConfig(kubeconfigPath?: string, options: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) {
    const [first, ...rest] = kubeconfigPath.split(path.delimiter).filter(Boolean);
    if (first) kc.loadFromFile(first);
    for (const file of rest) {
      const next = new KubeConfig();
      next.loadFromFile(file);
      kc.mergeConfig(next, true);
    }
  } else {
    kc.loadFromDefault();
  }
  if (options.context) {
    // setCurrentContext accepts any name; an unknown one would only fail later, far from its cause.
    if (!kc.getContextObject(options.context)) {
      throw new UnknownContextError(
        options.context,
        kc.getContexts().map((context) => context.name),
      );
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error("no Kubernetes cluster configured: set KUBECONFIG or run inside a cluster");
  }
  return kc;
}
