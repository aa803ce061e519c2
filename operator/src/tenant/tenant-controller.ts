import type { Tenant } from "../api/tenant.ts";
import { attempt, notReady } from "../conditions.ts";
import type { ReconcileResult } from "../ports.ts";
import { writeStatus } from "../status-writer.ts";
import { ensureTenantChannels } from "./tenant-channels.ts";
import { checkTenantClaims } from "./tenant-claims.ts";
import { type TenantDeps, tenantNames } from "./tenant-context.ts";
import { ensureTenantFinalizer, finalizeTenant, tenantRef } from "./tenant-finalizer.ts";
import { ensureTenantNamespace } from "./tenant-namespace.ts";
import { ensureOwnerInvitations } from "./tenant-owners.ts";
import { ensurePortalAccess } from "./tenant-portal-access.ts";
import { ensureTenantDatabase } from "./tenant-postgres.ts";
import { ensureTenantRedis } from "./tenant-redis.ts";
import { refusedStatus, tenantStatus } from "./tenant-status.ts";

/**
 * Reconciles one Tenant: its claims first (a Tenant refused its namespace or tenant id gets a
 * condition saying why and nothing else), then the finalizer, namespace, database, Redis and
 * channels, the portal identities' access and the first owners' invitations (each detects
 * drift and writes only what differs), then status. A failing
 * dependency becomes a condition and a retry with backoff; it never stops the others from
 * being checked.
 */
export async function reconcileTenant(tenant: Tenant, deps: TenantDeps): Promise<ReconcileResult> {
  const names = tenantNames(tenant);
  if (tenant.metadata.deletionTimestamp !== undefined) return finalizeTenant(tenant, names, deps);
  const claims = await attempt("ClaimCheckFailed", () => checkTenantClaims(tenant, names, deps));
  if (!claims.ready) {
    await writeStatus(deps.kube, tenantRef(tenant), tenant.status, refusedStatus(tenant, claims, new Date()));
    return { requeue: true };
  }
  await ensureTenantFinalizer(tenant, deps);

  const namespace = await attempt("NamespaceFailed", () => ensureTenantNamespace(tenant, names, deps));
  const blocked = notReady("NamespaceNotReady", `waiting for namespace ${names.namespace}: ${namespace.message}`);
  const database = namespace.ready ? await attempt("DatabaseFailed", () => ensureTenantDatabase(tenant, names, deps)) : blocked;
  const redis = namespace.ready ? await attempt("RedisFailed", () => ensureTenantRedis(names, deps)) : blocked;
  const noRow = notReady("DatabaseNotReady", "waiting for the tenant row");
  const channels = database.ready ? await attempt("ChannelsFailed", () => ensureTenantChannels(tenant, names, deps)) : noRow;
  const portal = namespace.ready ? await attempt("PortalAccessFailed", () => ensurePortalAccess(tenant, names, deps)) : blocked;
  const owners = database.ready ? await attempt("InvitationsFailed", () => ensureOwnerInvitations(tenant, names, deps)) : noRow;

  const outcomes = { namespace, database, redis, channels: { channels: [], ...channels }, portal, owners };
  await writeStatus(deps.kube, tenantRef(tenant), tenant.status, tenantStatus(tenant, names, outcomes, new Date()));
  const healthy = [namespace, database, redis, channels, portal, owners].every((o) => o.ready);
  return healthy ? {} : { requeue: true };
}
