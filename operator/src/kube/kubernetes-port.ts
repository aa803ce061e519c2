import { randomBytes } from "node:crypto";
import { API_VERSION, GROUP, VERSION } from "../api/tenant.ts";
import { KubeApiError } from "../errors.ts";
import type { KubernetesPort, ObjectRef, RbacKind, RbacObject, RoleBindingSubject } from "../ports.ts";
import type { KubeClient } from "./kube-client.ts";

export const FIELD_MANAGER = "konstruct-operator";

const enc = encodeURIComponent;

export function objectPath(ref: Pick<ObjectRef, "kind" | "name" | "namespace">): string {
  return ref.kind === "Tenant"
    ? `/apis/${GROUP}/${VERSION}/tenants/${enc(ref.name)}`
    : `/apis/${GROUP}/${VERSION}/namespaces/${enc(ref.namespace ?? "")}/agents/${enc(ref.name)}`;
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return null;
    throw error;
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  await orNull(p);
}

const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const RBAC_PLURALS: Record<RbacKind, string> = {
  Role: "roles",
  ClusterRole: "clusterroles",
  RoleBinding: "rolebindings",
  ClusterRoleBinding: "clusterrolebindings",
};

export function rbacPath(kind: RbacKind, name: string, namespace?: string): string {
  const scope = namespace === undefined ? "" : `/namespaces/${enc(namespace)}`;
  return `${RBAC}${scope}/${RBAC_PLURALS[kind]}/${enc(name)}`;
}

/** Every object of `kind` in the cluster (all namespaces for the namespaced kinds). */
export function rbacCollectionPath(kind: RbacKind): string {
  return `${RBAC}/${RBAC_PLURALS[kind]}`;
}

/** An owner reference to a Tenant (cluster-scoped, so it may own namespaced and cluster-scoped objects alike). */
function ownerReferences(owner: ObjectRef | undefined): Record<string, unknown>[] | undefined {
  if (owner?.uid === undefined) return undefined;
  return [{ apiVersion: API_VERSION, kind: owner.kind, name: owner.name, uid: owner.uid }];
}

export interface RbacJson {
  metadata: { labels?: Record<string, string> };
  rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** The fields the operator compares, in the shape it writes them. */
export function rbacObjectOf(kind: RbacKind, name: string, namespace: string | undefined, o: RbacJson): RbacObject {
  return {
    kind,
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: o.metadata.labels ?? {},
    ...(kind === "Role" || kind === "ClusterRole"
      ? {
          rules: (o.rules ?? []).map((r) => ({
            apiGroups: r.apiGroups ?? [],
            resources: r.resources ?? [],
            verbs: r.verbs,
            ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
          })),
        }
      : {
          roleRef: { kind: o.roleRef?.kind as "Role" | "ClusterRole", name: o.roleRef?.name ?? "" },
          subjects: (o.subjects ?? []).map((s) => ({
            kind: s.kind as "User" | "Group" | "ServiceAccount",
            name: s.name,
            ...(s.namespace ? { namespace: s.namespace } : {}),
          })),
        }),
  };
}

/** Retries a write that lost a race (409) a few times before giving up to the work queue's backoff. */
export async function retryOnConflict<T>(write: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409) || i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 50 * 2 ** i + Math.random() * 50));
    }
  }
}

/** The KubernetesPort over the real API: server-side apply with field manager konstruct-operator for what it owns. */
export function createKubernetesPort(client: KubeClient, options: { instance: string }): KubernetesPort {
  const apply = (path: string, body: Record<string, unknown>) =>
    retryOnConflict(() =>
      client.request("PATCH", path, { body, patch: "apply", query: { fieldManager: FIELD_MANAGER, force: "true" } }),
    );

  return {
    async getSecret(namespace, name) {
      const secret = await orNull(
        client.request<{ data?: Record<string, string> }>("GET", `/api/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`),
      );
      if (secret === null) return null;
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
      );
    },
    async applySecret(namespace, name, data, labels, owner) {
      const ownedBy = ownerReferences(owner);
      await apply(`/api/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace, labels, ...(ownedBy ? { ownerReferences: ownedBy } : {}) },
        type: "Opaque",
        data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")])),
      });
    },
    async getNamespaceLabels(name) {
      const ns = await orNull(
        client.request<{ metadata: { labels?: Record<string, string> } }>("GET", `/api/v1/namespaces/${enc(name)}`),
      );
      return ns === null ? null : (ns.metadata.labels ?? {});
    },
    async createNamespace(name, labels) {
      await client.request("POST", "/api/v1/namespaces", {
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } },
        query: { fieldManager: FIELD_MANAGER },
      });
    },
    async applyNamespace(name, labels) {
      await apply(`/api/v1/namespaces/${enc(name)}`, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
    },
    async deleteNamespace(name) {
      await ignoreNotFound(client.request("DELETE", `/api/v1/namespaces/${enc(name)}`));
    },
    async getRoleBindingSubjects(namespace, name) {
      const rb = await orNull(
        client.request<{ subjects?: { kind: string; name: string }[] }>(
          "GET",
          `/apis/rbac.authorization.k8s.io/v1/namespaces/${enc(namespace)}/rolebindings/${enc(name)}`,
        ),
      );
      return rb === null ? null : (rb.subjects ?? []).map((s) => ({ kind: s.kind as RoleBindingSubject["kind"], name: s.name }));
    },
    async applyRoleBinding(namespace, name, clusterRole, subjects) {
      await apply(`/apis/rbac.authorization.k8s.io/v1/namespaces/${enc(namespace)}/rolebindings/${enc(name)}`, {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": FIELD_MANAGER } },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
        subjects: subjects.map((s) => ({ ...s, apiGroup: "rbac.authorization.k8s.io" })),
      });
    },
    async deleteRoleBinding(namespace, name) {
      await ignoreNotFound(
        client.request("DELETE", `/apis/rbac.authorization.k8s.io/v1/namespaces/${enc(namespace)}/rolebindings/${enc(name)}`),
      );
    },
    async getRbac(kind, name, namespace) {
      const o = await orNull(client.request<RbacJson>("GET", rbacPath(kind, name, namespace)));
      return o === null ? null : rbacObjectOf(kind, name, namespace, o);
    },
    async applyRbac(object, owner) {
      const ownedBy = ownerReferences(owner);
      const { kind, name, namespace, labels, rules, roleRef, subjects } = object;
      await apply(rbacPath(kind, name, namespace), {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind,
        metadata: { name, ...(namespace ? { namespace } : {}), labels, ...(ownedBy ? { ownerReferences: ownedBy } : {}) },
        ...(rules ? { rules } : {}),
        ...(roleRef ? { roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef } } : {}),
        ...(subjects
          ? { subjects: subjects.map((s) => (s.kind === "ServiceAccount" ? s : { ...s, apiGroup: "rbac.authorization.k8s.io" })) }
          : {}),
      });
    },
    async deleteRbac(kind, name, namespace) {
      await ignoreNotFound(client.request("DELETE", rbacPath(kind, name, namespace)));
    },
    async setFinalizers(ref, finalizers) {
      // resourceVersion makes this a compare-and-swap: a 409 means our copy is stale, and the
      // work queue retries once the watch has delivered the newer object.
      await client.request("PATCH", objectPath(ref), {
        patch: "merge",
        body: { metadata: { finalizers, ...(ref.resourceVersion ? { resourceVersion: ref.resourceVersion } : {}) } },
      });
    },
    async patchStatus(ref, status) {
      await retryOnConflict(() => client.request("PATCH", `${objectPath(ref)}/status`, { patch: "merge", body: { status } }));
    },
    async recordEvent(ref, type, reason, message) {
      // Events of cluster-scoped objects live in `default`, as kubectl describe expects.
      const namespace = ref.namespace ?? "default";
      const now = new Date().toISOString();
      try {
        await client.request("POST", `/api/v1/namespaces/${enc(namespace)}/events`, {
          body: {
            apiVersion: "v1",
            kind: "Event",
            metadata: { name: `${ref.name}.${randomBytes(8).toString("hex")}`, namespace },
            involvedObject: { apiVersion: API_VERSION, kind: ref.kind, name: ref.name, namespace: ref.namespace, uid: ref.uid },
            type,
            reason,
            message: message.slice(0, 1024),
            source: { component: FIELD_MANAGER },
            reportingComponent: FIELD_MANAGER,
            reportingInstance: options.instance,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
      } catch {
        // Events are best effort: a lost Event must never fail a reconcile.
      }
    },
  };
}
