import type { Tenant, TenantStatus } from "../api/tenant.ts";
import { mergeConditions, type Outcome, readyOf } from "../conditions.ts";
import type { ChannelsOutcome } from "./tenant-channels.ts";
import { DATABASE_SECRET, REDIS_SECRET, type TenantNames } from "./tenant-context.ts";

export interface TenantOutcomes {
  namespace: Outcome;
  database: Outcome;
  redis: Outcome;
  channels: ChannelsOutcome;
}

/** The status the outcomes describe. */
export function tenantStatus(tenant: Tenant, names: TenantNames, o: TenantOutcomes, now: Date): TenantStatus {
  const ready = readyOf([o.namespace, o.database, o.redis, o.channels], `tenant ${names.tenantId} is ready`);
  return {
    tenantId: names.tenantId,
    namespace: names.namespace,
    observedGeneration: tenant.metadata.generation,
    conditions: mergeConditions(
      tenant.status?.conditions,
      { Ready: ready, NamespaceReady: o.namespace, DatabaseReady: o.database, RedisReady: o.redis, ChannelsReady: o.channels },
      tenant.metadata.generation,
      now,
    ),
    databaseSecret: DATABASE_SECRET,
    redisSecret: REDIS_SECRET,
    channels: o.channels.channels,
  };
}
