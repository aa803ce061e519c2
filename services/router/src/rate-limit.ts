import { keyPart, redisKey, redisScript } from "@konstruct/core";
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
// `rate_check` is also part of the router's admission script (admission.ts).
export const RATE_CHECK_LUA = `
local function rate_check(count_key, notice_key, limit, ttl)
  local n = redis.call('INCR', count_key)
  if n == 1 then redis.call('PEXPIRE', count_key, ttl) end
  if n <= limit then return {1, n, 0} end
  if redis.call('SET', notice_key, '1', 'NX', 'PX', ttl) then return {0, n, 1} end
  return {0, n, 0}
end`;

const CHECK = redisScript(`${RATE_CHECK_LUA}
return rate_check(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2])`);

/** The keys, limit and key lifetime of a tenant's current window. */
export interface RateWindow {
  countKey: string;
  noticeKey: string;
  limit: number;
  ttlMs: number;
}

/** The window `nowMs` falls in, for a limit of `perMinute` (windows aligned to the clock). */
export function rateWindow(tenantId: string, perMinute: number, nowMs: number, windowMs = 60_000): RateWindow {
  const window = keyPart(String(Math.floor(nowMs / windowMs)));
  return {
    countKey: redisKey(tenantId, "ratelimit", window),
    noticeKey: redisKey(tenantId, "ratelimit-notice", window),
    limit: Math.max(1, Math.round((perMinute * windowMs) / 60_000)),
    // Keys outlive their window a little so a late replica still sees the notice flag.
    ttlMs: windowMs * 2,
  };
}

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
      const w = rateWindow(tenantId, perMinute, now(), windowMs);
      const [allowed, count, notify] = (await CHECK(redis, [w.countKey, w.noticeKey], [w.limit, w.ttlMs])) as [
        number,
        number,
        number,
      ];
      return allowed === 1 ? { allowed: true, count } : { allowed: false, count, notify: notify === 1 };
    },
  };
}
