import { GROUP } from "./tenant.ts";

/** One rule of a (Cluster)Role, as plain JSON. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The ClusterRole the operator binds each tenant's `spec.admins` to (in the tenant namespace). */
export const TENANT_ADMIN_CLUSTER_ROLE = "konstruct-tenant-admin";

/** What a tenant admin may do in the tenant namespace: edit Agents and Secrets. */
export const TENANT_ADMIN_RULES: readonly PolicyRule[] = [
  { apiGroups: [GROUP], resources: ["agents"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
  { apiGroups: [GROUP], resources: ["agents/status"], verbs: ["get"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
];

/**
 * The operator's least-privilege ClusterRole. Secrets are read one by one (`get`, never
 * list/watch), so the operator cannot enumerate every Secret in the cluster; the periodic
 * resync re-reads the credential Secrets it references. `create` accompanies `patch` because a
 * server-side apply that creates an object is authorized as a create. `bind` is limited to the
 * tenant-admin ClusterRole, so the operator can grant exactly that and nothing it does not hold.
 */
export const OPERATOR_RBAC_RULES: readonly PolicyRule[] = [
  { apiGroups: [GROUP], resources: ["tenants", "agents"], verbs: ["get", "list", "watch", "update", "patch"] },
  { apiGroups: [GROUP], resources: ["tenants/status", "agents/status"], verbs: ["get", "update", "patch"] },
  { apiGroups: [GROUP], resources: ["tenants/finalizers", "agents/finalizers"], verbs: ["update"] },
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "create", "patch", "delete"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "patch"] },
  { apiGroups: ["rbac.authorization.k8s.io"], resources: ["rolebindings"], verbs: ["get", "create", "patch", "delete"] },
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["clusterroles"],
    verbs: ["bind"],
    resourceNames: [TENANT_ADMIN_CLUSTER_ROLE],
  },
  { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
];
