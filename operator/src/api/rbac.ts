import { GROUP } from "./group.ts";
import {
  PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
  PORTAL_AGENT_VIEWER_CLUSTER_ROLE,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
} from "./portal.ts";

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
 * server-side apply that creates an object is authorized as a create.
 *
 * RBAC's escalation prevention lets the operator write a role or binding only with rights it
 * holds itself, unless it may `bind` the role or `escalate` it:
 * - `bind` is limited to the ClusterRoles the chart creates for it to bind in tenant namespaces
 *   (tenant admins, the portal's agent editors and viewers) and to the portal's impersonation role;
 * - the per-Tenant portal ClusterRoles (`get`/`patch` on one Tenant) hold nothing the operator
 *   lacks, so writing and binding them needs neither verb;
 * - `escalate` is limited to the one impersonation ClusterRole, whose rules the operator keeps
 *   equal to the live Tenants' portal identities (and the chart's admission policy refuses any
 *   other rule in it). The operator itself never holds `impersonate`.
 */
export const OPERATOR_RBAC_RULES: readonly PolicyRule[] = [
  { apiGroups: [GROUP], resources: ["tenants", "agents"], verbs: ["get", "list", "watch", "update", "patch"] },
  { apiGroups: [GROUP], resources: ["tenants/status", "agents/status"], verbs: ["get", "update", "patch"] },
  { apiGroups: [GROUP], resources: ["tenants/finalizers", "agents/finalizers"], verbs: ["update"] },
  // list and watch: the operator caches namespaces' labels (kube/watch-cache.ts).
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "patch"] },
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["rolebindings", "clusterroles", "clusterrolebindings"],
    // list and watch: the operator caches the ones it manages (selected by its label) instead of
    // reading each one per reconcile (kube/watch-cache.ts).
    verbs: ["get", "list", "watch", "create", "patch", "delete"],
  },
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["clusterroles"],
    verbs: ["bind"],
    resourceNames: [
      TENANT_ADMIN_CLUSTER_ROLE,
      PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
      PORTAL_AGENT_VIEWER_CLUSTER_ROLE,
      PORTAL_IMPERSONATION_CLUSTER_ROLE,
    ],
  },
  {
    apiGroups: ["rbac.authorization.k8s.io"],
    resources: ["clusterroles"],
    verbs: ["escalate"],
    resourceNames: [PORTAL_IMPERSONATION_CLUSTER_ROLE],
  },
  { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
];
