// The operator's Kubernetes client on its own, light to import (client-node only when a
// kubeconfig needs it): for the portal, which calls the same API as other identities.
export { KubeApiError } from "../errors.ts";
export type { KubeAuth } from "./kube-auth.ts";
export { loadKubeAuth, loadKubeCredentials } from "./kube-auth.ts";
export type { PatchType, WatchEvent } from "./kube-client.ts";
export { KubeClient } from "./kube-client.ts";
