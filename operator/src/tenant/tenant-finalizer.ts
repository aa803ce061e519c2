import { tenantKeyPattern } from "@konstruct/core";
import type { Tenant } from "../api/tenant.ts";
import type { ObjectRef, ReconcileResult } from "../ports.ts";
import { TENANT_FINALIZER, type TenantDeps, type TenantNames } from "./tenant-context.ts";

export function tenantRef(tenant: Tenant): ObjectRef {
  return {
    kind: "Tenant",
    name: tenant.metadata.name,
    uid: tenant.metadata.uid,
    resourceVersion: tenant.metadata.resourceVersion,
  };
}

/** Adds the cleanup finalizer before anything is created, so no deletion can outrun it. */
export async function ensureTenantFinalizer(tenant: Tenant, deps: TenantDeps): Promise<void> {
  const finalizers = tenant.metadata.finalizers ?? [];
  if (!finalizers.includes(TENANT_FINALIZER)) await deps.kube.setFinalizers(tenantRef(tenant), [...finalizers, TENANT_FINALIZER]);
}

/**
 * A deleted Tenant: with reclaimPolicy Delete, drop the role, the ACL user and the tenant's
 * Redis keys, delete the tenant row (its agents, channels and usage go with it, on delete
 * cascade) and the namespace; with Retain, keep all of it and say how to adopt it again.
 * Only then is the finalizer released. Every step tolerates what is already gone.
 */
export async function finalizeTenant(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<ReconcileResult> {
  const finalizers = tenant.metadata.finalizers ?? [];
  if (!finalizers.includes(TENANT_FINALIZER)) return {};
  const ref = tenantRef(tenant);
  if (tenant.spec.reclaimPolicy === "Delete") {
    await deps.roles.drop(names.role);
    await deps.acl.delete(names.aclUser);
    const keys = await deps.acl.deleteKeys(`${tenantKeyPattern(names.tenantId)}`);
    await deps.rows.delete(names.tenantId);
    await deps.kube.deleteNamespace(names.namespace);
    deps.log.info({ tenantId: names.tenantId, keys }, "deleted tenant data");
    await deps.kube.recordEvent(
      ref,
      "Normal",
      "Deleted",
      `dropped role ${names.role}, ACL user ${names.aclUser}, ${keys} Redis keys, the tenant's rows and namespace ${names.namespace}`,
    );
  } else {
    await deps.kube.recordEvent(
      ref,
      "Normal",
      "Retained",
      `reclaimPolicy Retain: kept tenant ${names.tenantId}'s rows, role ${names.role}, Redis keys and namespace ${names.namespace}; ` +
        `create a Tenant with spec.tenantId: ${names.tenantId} to adopt them`,
    );
  }
  await deps.kube.setFinalizers(
    ref,
    finalizers.filter((f) => f !== TENANT_FINALIZER),
  );
  return {};
}
