import { KubeConfig } from "@kubernetes/client-node";

/**
 * Loads how to reach the API server: $KUBECONFIG (or ~/.kube/config) when present,
 * otherwise the in-cluster service account. An explicit path wins over both.
 */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) {
    kc.loadFromFile(kubeconfigPath);
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) {
    throw new Error("no Kubernetes cluster configured: set KUBECONFIG or run inside a cluster");
  }
  return kc;
}
