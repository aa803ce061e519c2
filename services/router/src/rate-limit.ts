import { keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/** The verdict on one message: under the limit, or over it with or without the window's one notice. */
export type RateDecision = { allowed: true; count: number } | { allowed: false; count: number; notify: boolean };

/** A per-tenant fixed-window limit on routed messages, shared by every router replica. */
export interface RateLimiter {
  check(tenantId: string, perMinute: number): Promise<RateDecision>;
}

// One script so that counting, expiry and the "first refusal of the window sends the notice"
// flag are a single atomic step: two replicas over the limit at the same instant still send
// exactly one notice, because only one of them can SET NX the notice key.
const CHECK = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n <= tonumber(ARGV[1]) then return {1, n, 0} end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return {0, n, 1} end
return {0, n, 0}`;

/**
 * A Redis fixed-window rate limiter. Windows are aligned to the minute of the router's clock;
 * replicas with a skewed clock may disagree on the boundary by the skew, which only moves a
 * few messages between neighbouring windows.
 */
export function createRateLimiter(redis: Redis, options: { windowMs?: number; now?: () => number } = {}): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  return {
    async check(tenantId, perMinute) {
      const window = keyPart(String(Math.floor(now() / windowMs)));
      const limit = Math.max(1, Math.round((perMinute * windowMs) / 60_000));
      // Keys outlive their window a little so a late replica still sees the notice flag.
      const ttl = windowMs * 2;
      const [allowed, count, notify] = (await redis.eval(
        CHECK,
        2,
        redisKey(tenantId, "ratelimit", window),
        redisKey(tenantId, "ratelimit-notice", window),
        limit,
        ttl,
      )) as [number, number, number];
      return allowed === 1 ? { allowed: true, count } : { allowed: false, count, notify: notify === 1 };
    },
  };
}
