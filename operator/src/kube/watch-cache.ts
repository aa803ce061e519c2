import type { Logger } from "@konstruct/core/logger";
import { PORTAL_IMPERSONATION_CLUSTER_ROLE } from "../api/portal.ts";
import type { KubernetesPort, RbacKind, RbacObject } from "../ports.ts";
import { Informer, type KubeObject, keyOf } from "../runtime/informer.ts";
import type { KubeClient } from "./kube-client.ts";
import { FIELD_MANAGER, type RbacJson, rbacCollectionPath, rbacObjectOf } from "./kubernetes-port.ts";

/** The label every RBAC object the operator writes carries, as a selector. */
const MANAGED = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

/** The kinds the operator writes per Tenant, and so reads on every reconcile. */
type CachedKind = "RoleBinding" | "ClusterRole" | "ClusterRoleBinding";

interface Cached extends KubeObject {
  rbac: RbacObject;
}

interface CachedNamespace extends KubeObject {
  labels: Record<string, string>;
}

/**
 * List-and-watch caches of the RBAC objects the operator manages (its label) and of namespaces'
 * labels, so that checking a Tenant's namespace and RBAC objects for drift reads memory instead
 * of making a GET each (controller-runtime's cached client does the same). With the editor and
 * viewer pairs of earlier versions that was nine GETs a reconcile: ~90,000 requests per resync
 * pass at 10,000 Tenants, and most of the GETs a new Tenant cost. Reads that decide a deletion ask the API server (`fresh`): a namespace or binding handed
 * on to another Tenant a moment ago must not be deleted on a stale copy.
 *
 * Namespaces are watched whole (every namespace, labels only): the claim check must see the ones
 * the operator did not make. A namespace created since the cache last heard is still never taken
 * over: the operator creates a tenant namespace with a POST that fails when it exists.
 *
 * It keeps only the fields the operator compares (RbacObject), not the objects. An object
 * without the label is not in the cache and reads as missing, so the operator applies its own
 * over it, as it did when the GET showed it differing in labels. The impersonation ClusterRole is
 * left out: it lists every Tenant's identities (about 1 MB at 10,000 Tenants), is rewritten
 * once per round of new Tenants, and is read back only once a minute.
 */
export class WatchCache {
  readonly #informers: Record<CachedKind, Informer<Cached>>;
  readonly #namespaces: Informer<CachedNamespace>;

  constructor(
    client: KubeClient,
    options: { watchdogMs: number; log: Logger; onRestart?: (resource: string, reason: string) => void },
  ) {
    const restarts = (resource: string) => (reason: string) => options.onRestart?.(resource, reason);
    const informer = (kind: CachedKind, fieldSelector?: string) =>
      new Informer<Cached>(client, {
        path: rbacCollectionPath(kind),
        resource: `${kind.toLowerCase()}s`,
        watchdogMs: options.watchdogMs,
        log: options.log,
        labelSelector: MANAGED,
        ...(fieldSelector ? { fieldSelector } : {}),
        onRestart: restarts(`${kind.toLowerCase()}s`),
        transform: (object) => {
          const { name, namespace, resourceVersion } = object.metadata;
          return {
            metadata: { name, ...(namespace ? { namespace } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
            rbac: rbacObjectOf(kind, name, namespace, object as unknown as RbacJson),
          };
        },
      });
    this.#informers = {
      RoleBinding: informer("RoleBinding"),
      ClusterRole: informer("ClusterRole", `metadata.name!=${PORTAL_IMPERSONATION_CLUSTER_ROLE}`),
      ClusterRoleBinding: informer("ClusterRoleBinding"),
    };
    this.#namespaces = new Informer<CachedNamespace>(client, {
      path: "/api/v1/namespaces",
      resource: "namespaces",
      watchdogMs: options.watchdogMs,
      log: options.log,
      onRestart: restarts("namespaces"),
      transform: (object) => {
        const { name, resourceVersion, labels } = object.metadata as KubeObject["metadata"] & { labels?: Record<string, string> };
        return { metadata: { name, ...(resourceVersion ? { resourceVersion } : {}) }, labels: labels ?? {} };
      },
    });
  }

  start(): void {
    for (const informer of this.#all()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#all().map((informer) => informer.stop()));
  }

  #all(): Informer<KubeObject>[] {
    return [...Object.values(this.#informers), this.#namespaces];
  }

  /** A namespace's labels as last watched, null when it is not there, undefined before the cache has synced. */
  namespaceLabels(name: string): Record<string, string> | null | undefined {
    if (!this.#namespaces.synced) return undefined;
    return this.#namespaces.get(name)?.labels ?? null;
  }

  /** The object as last watched, null when it is not there, undefined when the cache cannot tell (not synced, not cached). */
  get(kind: RbacKind, name: string, namespace?: string): RbacObject | null | undefined {
    if (kind === "Role" || (kind === "ClusterRole" && name === PORTAL_IMPERSONATION_CLUSTER_ROLE)) return undefined;
    const informer = this.#informers[kind];
    if (!informer.synced) return undefined;
    return informer.get(keyOf({ metadata: { name, ...(namespace ? { namespace } : {}) } }))?.rbac ?? null;
  }
}

/**
 * `port` with its namespace and RBAC reads served by `cache` once it has synced, unless asked
 * for a fresh read. Writes go to the API server as before; the watch brings their result back
 * into the cache.
 */
export function withWatchCache(port: KubernetesPort, cache: WatchCache): KubernetesPort {
  return {
    ...port,
    async getNamespaceLabels(name, read) {
      const cached = read?.fresh ? undefined : cache.namespaceLabels(name);
      return cached === undefined ? port.getNamespaceLabels(name, read) : cached;
    },
    async getRbac(kind, name, namespace, read) {
      const cached = read?.fresh ? undefined : cache.get(kind, name, namespace);
      return cached === undefined ? port.getRbac(kind, name, namespace, read) : cached;
    },
    async getRoleBindingSubjects(namespace, name) {
      const cached = cache.get("RoleBinding", name, namespace);
      if (cached === undefined) return port.getRoleBindingSubjects(namespace, name);
      return cached === null ? null : (cached.subjects ?? []).map((s) => ({ kind: s.kind as "User" | "Group", name: s.name }));
    },
  };
}
