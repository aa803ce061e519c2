import { tenantKeyPattern } from "@konstruct/core/redis-keys";
import type { Tenant } from "../api/tenant.ts";
import { messageOf, reasonOf } from "../errors.ts";
import { ensureFinalizer, finalize } from "../finalizers.ts";
import { objectRef } from "../object-ref.ts";
import type { ObjectRef, ReconcileResult } from "../ports.ts";
import { unregisterRow } from "./tenant-channels.ts";
import { holdsNamespace, holdsTenantId } from "./tenant-claims.ts";
import { TENANT_FINALIZER, type TenantDeps, type TenantNames } from "./tenant-context.ts";
import { withdrawOwnerInvitations } from "./tenant-owners.ts";
import { removePortalAccess } from "./tenant-portal-access.ts";

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
 * Either way its portal identities lose every right and its owners' pending invitations stop
 * working. Only what this Tenant holds is touched: the tenant id's data when its claim is this Tenant's,
 * the namespace when the operator created or adopted it for this Tenant (holdsNamespace).
 * Only then is the finalizer released. Every step tolerates what is already gone.
 */
export async function finalizeTenant(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<ReconcileResult> {
  const ref = tenantRef(tenant);
  await finalize(deps.kube, ref, tenant, TENANT_FINALIZER, () => reclaim(tenant, names, ref, deps));
  return {};
}

/** Deletes or keeps the tenant's data, as its reclaimPolicy says, and records an Event saying which. */
async function reclaim(tenant: Tenant, names: TenantNames, ref: ObjectRef, deps: TenantDeps): Promise<void> {
  const ownsData = await holdsTenantId(tenant, names, deps);
  const ownsNamespace = await holdsNamespace(tenant, names, deps);
  const uid = tenant.metadata.uid as string;
  const kept = [
    ...(ownsData ? [] : [`tenant ${names.tenantId}'s data (another Tenant holds that id)`]),
    ...(ownsNamespace ? [] : [`namespace ${names.namespace} (not created or adopted for this Tenant)`]),
  ];
  const notOurs = kept.length > 0 ? `; left alone, not this Tenant's: ${kept.join(", ")}` : "";
  await removePortalAccess(tenant, names, deps);
  if (ownsData && ownsNamespace && tenant.spec.reclaimPolicy !== "Delete") await withdrawOwnerInvitations(tenant, names, deps);
  // Whatever the policy, a deleted Tenant's channels stop pointing at the platform.
  if (ownsData) await unregisterChannels(names, ref, deps);
  if (tenant.spec.reclaimPolicy === "Delete") {
    let keys = 0;
    if (ownsData) {
      await deps.roles.drop(names.role);
      await deps.acl.delete(names.aclUser);
      keys = await deps.acl.deleteKeys(`${tenantKeyPattern(names.tenantId)}`);
      await deps.rows.delete(names.tenantId);
      await deps.owners.release(names.tenantId, uid);
    }
    if (ownsNamespace) await deps.kube.deleteNamespace(names.namespace);
    deps.log.info({ tenantId: names.tenantId, keys, ownsData, ownsNamespace }, "deleted tenant data");
    const dropped = [
      ...(ownsData ? [`dropped role ${names.role}, ACL user ${names.aclUser}, ${keys} Redis keys, the tenant's rows`] : []),
      ...(ownsNamespace ? [`namespace ${names.namespace}`] : []),
    ];
    await deps.kube.recordEvent(ref, "Normal", "Deleted", `${dropped.join(" and ") || "deleted nothing"}${notOurs}`);
  } else {
    // Releasing the claim is what lets a new Tenant adopt the data with spec.tenantId.
    if (ownsData) await deps.owners.release(names.tenantId, uid);
    await deps.kube.recordEvent(
      ref,
      "Normal",
      "Retained",
      ownsData
        ? `reclaimPolicy Retain: kept tenant ${names.tenantId}'s rows, role ${names.role}, Redis keys and namespace ${names.namespace}; ` +
            `create a Tenant with spec.tenantId: ${names.tenantId} to adopt them${notOurs}`
        : `reclaimPolicy Retain: nothing to keep${notOurs}`,
    );
  }
}

/**
 * Removes every channel's registration with its service (Telegram's webhook) while the rows still
 * hold the credentials to do it with. One that may pass later fails the cleanup, so the finalizer
 * stays and the work queue retries with backoff; a Warning Event says why.
 */
async function unregisterChannels(names: TenantNames, ref: ObjectRef, deps: TenantDeps): Promise<void> {
  for (const row of await deps.channels.list(names.tenantId)) {
    try {
      await unregisterRow(row, names, deps);
    } catch (error) {
      await deps.kube.recordEvent(ref, "Warning", reasonOf(error, "ChannelFailed"), `channel ${row.name}: ${messageOf(error)}`);
      throw error;
    }
  }
}
