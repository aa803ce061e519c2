import { tenantKeyPattern } from "@konstruct/core";
import type { Tenant } from "../api/tenant.ts";
import { ensureFinalizer, finalize } from "../finalizers.ts";
import { objectRef } from "../object-ref.ts";
import type { ObjectRef, ReconcileResult } from "../ports.ts";
import { TENANT_FINALIZER, type TenantDeps, type TenantNames } from "./tenant-context.ts";

export function tenantRef(tenant: Tenant): ObjectRef {
  return objectRef("Tenant", tenant.metadata);
}

/** Adds the cleanup finalizer before anything is created, so no deletion can outrun it. */
export async function ensureTenantFinalizer(tenant: Tenant, deps: TenantDeps): Promise<void> {
  await ensureFinalizer(deps.kube, tenantRef(tenant), tenant, TENANT_FINALIZER);
}

/**
 * A deleted Tenant: with reclaimPolicy Delete, drop the role, the ACL user and the tenant's
 * Redis keys, delete the tenant row (its agents, channels and usage go with it, on delete
 * cascade) and the namespace; with Retain, keep all of it and say how to adopt it again.
 * Only then is the finalizer released. Every step tolerates what is already gone.
 */
export async function finalizeTenant(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<ReconcileResult> {
  const ref = tenantRef(tenant);
  await finalize(deps.kube, ref, tenant, TENANT_FINALIZER, () => reclaim(tenant, names, ref, deps));
  return {};
}

/** Deletes or keeps the tenant's data, as its reclaimPolicy says, and records an Event saying which. */
async function reclaim(tenant: Tenant, names: TenantNames, ref: ObjectRef, deps: TenantDeps): Promise<void> {
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
}
