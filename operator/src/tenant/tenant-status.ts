import type { Tenant, TenantStatus } from "../api/tenant.ts";
import { mergeConditions, notReady, type Outcome, readyOf } from "../conditions.ts";
import type { ChannelsOutcome } from "./tenant-channels.ts";
import { DATABASE_SECRET, REDIS_SECRET, type TenantNames } from "./tenant-context.ts";

export interface TenantOutcomes {
  namespace: Outcome;
  database: Outcome;
  redis: Outcome;
  channels: ChannelsOutcome;
  /** The portal identities' RBAC and the impersonation grant. */
  portal: Outcome;
  /** spec.owners' invitations: how many joined, how many are invited. */
  owners: Outcome;
}

/** The status the outcomes describe. */
export function tenantStatus(tenant: Tenant, names: TenantNames, o: TenantOutcomes, now: Date): TenantStatus {
  const ready = readyOf([o.namespace, o.database, o.redis, o.channels, o.portal, o.owners], `tenant ${names.tenantId} is ready`);
  return {
    tenantId: names.tenantId,
    namespace: names.namespace,
    observedGeneration: tenant.metadata.generation,
    conditions: mergeConditions(
      tenant.status?.conditions,
      {
        Ready: ready,
        NamespaceReady: o.namespace,
        DatabaseReady: o.database,
        RedisReady: o.redis,
        ChannelsReady: o.channels,
        PortalAccessReady: o.portal,
        OwnersInvited: o.owners,
      },
      tenant.metadata.generation,
      now,
    ),
    databaseSecret: DATABASE_SECRET,
    redisSecret: REDIS_SECRET,
    channels: o.channels.channels,
  };
}

/**
 * The status of a Tenant whose claims were refused (or could not be checked): Ready and every
 * dependency False with the claim's reason, nothing else changed (a new Tenant gets no tenant id
 * or namespace reported), so a refused Tenant that stays refused writes nothing again.
 */
export function refusedStatus(tenant: Tenant, claims: Outcome, now: Date): TenantStatus {
  const blocked = notReady(
    claims.reason,
    `not reconciled until the Tenant's namespace and tenant id are allowed: ${claims.message}`,
  );
  return {
    ...tenant.status,
    observedGeneration: tenant.metadata.generation,
    conditions: mergeConditions(
      tenant.status?.conditions,
      {
        Ready: claims,
        NamespaceReady: blocked,
        DatabaseReady: blocked,
        RedisReady: blocked,
        ChannelsReady: blocked,
        PortalAccessReady: blocked,
        OwnersInvited: blocked,
      },
      tenant.metadata.generation,
      now,
    ),
  };
}
