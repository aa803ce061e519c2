// The local driver: the operator's reconcile functions over manifests in files, for running
// the platform without a Kubernetes cluster.
export type { RecordedEvent, StoredObject } from "./memory-kubernetes.ts";
export { MemoryKubernetes } from "./memory-kubernetes.ts";
export type { LocalDeps, LocalResult } from "./reconcile-manifests.ts";
export { localTenantId, ManifestError, reconcileManifests } from "./reconcile-manifests.ts";
