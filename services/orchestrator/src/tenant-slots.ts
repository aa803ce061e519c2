import { setTimeout as sleep } from "node:timers/promises";
import { redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/**
 * Per-tenant concurrency (`tenants.max_concurrent_runs`) across every orchestrator replica: a
 * Redis sorted set of run holders scored by lease expiry. A crashed replica's slots free
 * themselves when their lease runs out; a live run renews its lease while the model works.
 * The holder is the delivery key, so a redelivered item takes back its own slot.
 */
export interface TenantSlots {
  /** Waits up to `waitMs` for a slot; returns a release function, or null when none came free. */
  acquire(tenantId: string, holder: string, limit: number, waitMs: number): Promise<(() => Promise<void>) | null>;
}

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local expiry = tonumber(ARGV[1]) + tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

const RENEW = `
if redis.call('ZADD', KEYS[1], 'XX', 'CH', tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`;

/** Redis-backed {@link TenantSlots}; `leaseMs` bounds how long a dead replica can hold a slot. */
export function createTenantSlots(redis: Redis, options: { leaseMs: number; pollMs?: number; now?: () => number }): TenantSlots {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 100;
  return {
    async acquire(tenantId, holder, limit, waitMs) {
      const key = redisKey(tenantId, "concurrency", "runs");
      const deadline = now() + waitMs;
      for (;;) {
        const got = Number(await redis.eval(ACQUIRE, 1, key, now(), options.leaseMs, limit, holder));
        if (got === 1) break;
        if (now() >= deadline) return null;
        await sleep(pollMs / 2 + Math.random() * pollMs);
      }
      const renew = setInterval(
        () => void redis.eval(RENEW, 1, key, now(), options.leaseMs, holder).catch(() => {}),
        Math.max(250, options.leaseMs / 3),
      );
      renew.unref();
      return async () => {
        clearInterval(renew);
        await redis.zrem(key, holder);
      };
    },
  };
}
