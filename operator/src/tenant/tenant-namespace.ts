import { TENANT_ADMIN_CLUSTER_ROLE } from "../api/rbac.ts";
import type { Tenant } from "../api/tenant.ts";
import { jsonEqual, type Outcome, ok } from "../conditions.ts";
import { KubeApiError } from "../errors.ts";
import type { RoleBindingSubject } from "../ports.ts";
import { TENANT_UID_LABEL, type TenantDeps, type TenantNames, tenantLabels } from "./tenant-context.ts";

export const ADMINS_ROLE_BINDING = "konstruct-tenant-admins";

/**
 * The tenant namespace, labelled with its tenant (name, id and uid: the uid marks it as created
 * or adopted by this Tenant, so only this Tenant's deletion deletes it), and a RoleBinding of
 * `spec.admins` to the tenant-admin ClusterRole. checkTenantClaims has allowed the namespace.
 */
export async function ensureTenantNamespace(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const labels = { ...tenantLabels(tenant, names), [TENANT_UID_LABEL]: tenant.metadata.uid as string };
  const existing = (await deps.kube.getNamespaceLabels(names.namespace)) ?? (await createNamespace(tenant, names, labels, deps));
  if (Object.entries(labels).some(([k, v]) => existing[k] !== v)) await deps.kube.applyNamespace(names.namespace, labels);

  const subjects: RoleBindingSubject[] = (tenant.spec.admins ?? []).map((a) => ({ kind: a.kind, name: a.name }));
  const current = await deps.kube.getRoleBindingSubjects(names.namespace, ADMINS_ROLE_BINDING);
  if (subjects.length === 0) {
    if (current !== null) await deps.kube.deleteRoleBinding(names.namespace, ADMINS_ROLE_BINDING);
  } else if (current === null || !jsonEqual(current, subjects)) {
    await deps.kube.applyRoleBinding(names.namespace, ADMINS_ROLE_BINDING, TENANT_ADMIN_CLUSTER_ROLE, subjects);
  }
  return ok("NamespaceReady", `namespace ${names.namespace}`);
}

/**
 * Created, not applied: a namespace someone made since checkTenantClaims looked fails with 409
 * and is judged again on the retry, instead of being taken over. The read before this may come
 * from a watch cache that has not yet seen this Tenant's own namespace, so a 409 is read again
 * fresh, and only a namespace carrying this Tenant's uid goes on. Returns its labels.
 */
async function createNamespace(
  tenant: Tenant,
  names: TenantNames,
  labels: Record<string, string>,
  deps: TenantDeps,
): Promise<Record<string, string>> {
  try {
    await deps.kube.createNamespace(names.namespace, labels);
    return labels;
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
    const current = await deps.kube.getNamespaceLabels(names.namespace, { fresh: true });
    if (current === null || current[TENANT_UID_LABEL] !== tenant.metadata.uid) throw error;
    return current;
  }
}
