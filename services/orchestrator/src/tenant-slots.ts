import { setTimeout as sleep } from "node:timers/promises";
import { redisKey, redisScript } from "@konstruct/core";
import type { Redis } from "ioredis";

/**
 * Per-tenant concurrency (`tenants.max_concurrent_runs`) across every orchestrator replica: a
 * Redis sorted set of run holders scored by lease expiry. A crashed replica's slots free
 * themselves when their lease runs out; a live run renews its lease while the model works.
 * The holder is the delivery key, so a redelivered item takes back its own slot.
 */
export interface TenantSlots {
  /** Waits up to `waitMs` for a slot; returns it held (renewed until released), or null when none came free. */
  acquire(tenantId: string, holder: string, limit: number, waitMs: number): Promise<SlotHold | null>;
  /**
   * Keeps renewing a slot taken by a script of the caller's (`slot_acquire` within the run's
   * first round trip); `stop` ends the renewal when the slot was freed by another script, and
   * `release` frees it here.
   */
  hold(tenantId: string, holder: string): SlotHold;
  /** The sorted set of a tenant's slots. */
  key(tenantId: string): string;
  readonly leaseMs: number;
}

/** A held slot, renewed until stopped or released. */
export interface SlotHold {
  stop(): void;
  release(): Promise<void>;
}

// `slot_acquire` is also part of the orchestrator's first round trip of a run (run-redis.ts).
export const SLOT_ACQUIRE_LUA = `
local function slot_acquire(key, now, lease_ms, limit, holder)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, holder) or redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now + lease_ms, holder)
    redis.call('PEXPIRE', key, lease_ms)
    return 1
  end
  return 0
end`;

const ACQUIRE = redisScript(`${SLOT_ACQUIRE_LUA}
return slot_acquire(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])`);

const RENEW = redisScript(`
if redis.call('ZADD', KEYS[1], 'XX', 'CH', tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`);

/** Redis-backed {@link TenantSlots}; `leaseMs` bounds how long a dead replica can hold a slot. */
export function createTenantSlots(redis: Redis, options: { leaseMs: number; pollMs?: number; now?: () => number }): TenantSlots {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 100;
  const key = (tenantId: string) => redisKey(tenantId, "concurrency", "runs");
  const hold = (tenantId: string, holder: string): SlotHold => {
    const renew = setInterval(
      () => void RENEW(redis, [key(tenantId)], [now(), options.leaseMs, holder]).catch(() => {}),
      Math.max(250, options.leaseMs / 3),
    );
    renew.unref();
    return {
      stop: () => clearInterval(renew),
      async release() {
        clearInterval(renew);
        await redis.zrem(key(tenantId), holder);
      },
    };
  };
  return {
    key,
    leaseMs: options.leaseMs,
    hold,
    async acquire(tenantId, holder, limit, waitMs) {
      const deadline = now() + waitMs;
      for (;;) {
        const got = Number(await ACQUIRE(redis, [key(tenantId)], [now(), options.leaseMs, limit, holder]));
        if (got === 1) return hold(tenantId, holder);
        if (now() >= deadline) return null;
        await sleep(pollMs / 2 + Math.random() * pollMs);
      }
    },
  };
}
