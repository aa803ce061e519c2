import { portalIdentity } from "@konstruct/operator";
import type { KubeClient } from "@konstruct/operator/runtime";

const RBAC = "/apis/rbac.authorization.k8s.io/v1";

/**
 * The per-tenant RBAC of the portal contract, as the operator will create it (branch
 * portal-ops): owners and admins edit Agents in the tenant namespace and patch their own
 * Tenant; members read; the portal's identity may impersonate exactly these users.
 */
export async function grantContractRbac(admin: KubeClient, tenant: { name: string; namespace: string }): Promise<string[]> {
  const identities: string[] = [];
  for (const role of ["owner", "admin", "member"] as const) {
    const user = portalIdentity(tenant.name, role);
    identities.push(user);
    const writer = role !== "member";
    const subjects = [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }];
    const name = `konstruct-portal-${tenant.name}-${role}`;
    await admin.request("POST", `${RBAC}/namespaces/${tenant.namespace}/roles`, {
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name, namespace: tenant.namespace },
        rules: [
          {
            apiGroups: ["konstruct.io"],
            resources: ["agents"],
            verbs: writer ? ["get", "list", "watch", "create", "update", "patch", "delete"] : ["get", "list", "watch"],
          },
        ],
      },
    });
    await admin.request("POST", `${RBAC}/namespaces/${tenant.namespace}/rolebindings`, {
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name, namespace: tenant.namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects,
      },
    });
    await admin.request("POST", `${RBAC}/clusterroles`, {
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name },
        rules: [
          {
            apiGroups: ["konstruct.io"],
            resources: ["tenants"],
            resourceNames: [tenant.name],
            verbs: writer ? ["get", "patch"] : ["get"],
          },
        ],
      },
    });
    await admin.request("POST", `${RBAC}/clusterrolebindings`, {
      body: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects,
      },
    });
  }
  return identities;
}

/** Lets `user` (the portal's own identity) impersonate exactly `identities`. */
export async function impersonationRights(admin: KubeClient, user: string, identities: readonly string[]): Promise<void> {
  await admin.request("POST", `${RBAC}/clusterroles`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "konstruct-portal-impersonate" },
      rules: [{ apiGroups: [""], resources: ["users"], verbs: ["impersonate"], resourceNames: identities }],
    },
  });
  await admin.request("POST", `${RBAC}/clusterrolebindings`, {
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "konstruct-portal-impersonate" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "konstruct-portal-impersonate" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
    },
  });
}
