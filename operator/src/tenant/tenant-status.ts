import type { Tenant, TenantStatus } from "../api/tenant.ts";
import { jsonEqual, mergeConditions, type Outcome, readyOf } from "../conditions.ts";
import type { ChannelsOutcome } from "./tenant-channels.ts";
import { DATABASE_SECRET, REDIS_SECRET, type TenantDeps, type TenantNames } from "./tenant-context.ts";
import { tenantRef } from "./tenant-finalizer.ts";

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

/** Writes status through the status subresource when it changed, with an Event when Ready flips. */
export async function writeTenantStatus(tenant: Tenant, status: TenantStatus, deps: TenantDeps): Promise<boolean> {
  if (jsonEqual(tenant.status ?? {}, status)) return false;
  await deps.kube.patchStatus(tenantRef(tenant), status as Record<string, unknown>);
  const was = tenant.status?.conditions?.find((c) => c.type === "Ready");
  const now = status.conditions?.find((c) => c.type === "Ready");
  if (now && (was?.status !== now.status || was?.reason !== now.reason)) {
    await deps.kube.recordEvent(tenantRef(tenant), now.status === "True" ? "Normal" : "Warning", now.reason, now.message);
  }
  return true;
}
