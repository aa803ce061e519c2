import type { Logger } from "@konstruct/core/logger";
import { PORTAL_IMPERSONATION_CLUSTER_ROLE } from "../api/portal.ts";
import type { KubernetesPort, RbacKind, RbacObject } from "../ports.ts";
import { Informer, type KubeObject } from "../runtime/informer.ts";
import type { KubeClient } from "./kube-client.ts";
import { FIELD_MANAGER, type RbacJson, rbacCollectionPath, rbacObjectOf } from "./kubernetes-port.ts";

/** The label every RBAC object the operator writes carries, as a selector. */
const MANAGED = `app.kubernetes.io/managed-by=${FIELD_MANAGER}`;

/** The kinds the operator writes per Tenant, and so reads on every reconcile. */
const CACHED_KINDS = ["RoleBinding", "ClusterRole", "ClusterRoleBinding"] as const;
type CachedKind = (typeof CACHED_KINDS)[number];

interface Cached extends KubeObject {
  rbac: RbacObject;
}

/**
 * A list-and-watch cache of the RBAC objects the operator manages (its label), so that checking
 * a Tenant's seven of them for drift reads memory instead of making seven GETs
 * (controller-runtime's cached client does the same). At 10,000 Tenants those GETs were ~70,000
 * requests per resync pass and a third of the operator's CPU for a new Tenant.
 *
 * It keeps only the fields the operator compares (RbacObject), not the objects. An object
 * without the label is not in the cache and reads as missing, so the operator applies its own
 * over it, as it did when the GET showed it differing in labels. The impersonation ClusterRole is
 * left out: it lists every Tenant's identities (about 1 MB at 10,000 Tenants), is rewritten
 * once per round of new Tenants, and is read back only once a minute.
 */
export class ManagedRbacCache {
  readonly #informers: Record<CachedKind, Informer<Cached>>;

  constructor(client: KubeClient, options: { watchdogMs: number; log: Logger; onRestart?: (reason: string) => void }) {
    const informer = (kind: CachedKind, fieldSelector?: string) =>
      new Informer<Cached>(client, {
        path: rbacCollectionPath(kind),
        resource: `${kind.toLowerCase()}s`,
        watchdogMs: options.watchdogMs,
        log: options.log,
        labelSelector: MANAGED,
        ...(fieldSelector ? { fieldSelector } : {}),
        ...(options.onRestart ? { onRestart: options.onRestart } : {}),
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
  }

  start(): void {
    for (const informer of Object.values(this.#informers)) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.#informers).map((informer) => informer.stop()));
  }

  /** The object as last watched, null when it is not there, undefined when the cache cannot tell (not synced, not cached). */
  get(kind: RbacKind, name: string, namespace?: string): RbacObject | null | undefined {
    if (kind === "Role" || (kind === "ClusterRole" && name === PORTAL_IMPERSONATION_CLUSTER_ROLE)) return undefined;
    const informer = this.#informers[kind];
    if (!informer.synced) return undefined;
    return informer.get(namespace === undefined ? name : `${namespace}/${name}`)?.rbac ?? null;
  }
}

/**
 * `port` with its RBAC reads served by `cache` once it has synced. Writes go to the API server
 * as before; the watch brings their result back into the cache.
 */
export function withRbacCache(port: KubernetesPort, cache: ManagedRbacCache): KubernetesPort {
  return {
    ...port,
    async getRbac(kind, name, namespace) {
      const cached = cache.get(kind, name, namespace);
      return cached === undefined ? port.getRbac(kind, name, namespace) : cached;
    },
    async getRoleBindingSubjects(namespace, name) {
      const cached = cache.get("RoleBinding", name, namespace);
      if (cached === undefined) return port.getRoleBindingSubjects(namespace, name);
      return cached === null ? null : (cached.subjects ?? []).map((s) => ({ kind: s.kind as "User" | "Group", name: s.name }));
    },
  };
}
