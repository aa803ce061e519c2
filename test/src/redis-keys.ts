import { deleteKeysMatching, tenantKeyPattern } from "@konstruct/core";
import { Redis } from "ioredis";
import { serverUrl } from "./env.ts";

/**
 * Deletes every key of the given tenants from the local Redis, as the operator does when a
 * Tenant goes. Benchmarks seed fresh tenants on the shared development Redis and leave their
 * runs' keys behind with TTLs of up to a week: enough runs fill its memory limit, and every
 * later write is refused. Returns how many keys went.
 */
export async function dropTenantKeys(tenantIds: readonly string[]): Promise<number> {
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let dropped = 0;
  try {
    for (const tenantId of tenantIds) dropped += await deleteKeysMatching(redis, tenantKeyPattern(tenantId));
  } finally {
    redis.disconnect();
  }
  return dropped;
}
