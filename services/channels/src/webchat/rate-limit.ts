import { redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/** How many messages a visitor may send per window. */
export interface VisitorRateLimit {
  messages: number;
  windowMs: number;
}

export const DEFAULT_VISITOR_RATE_LIMIT: VisitorRateLimit = { messages: 20, windowMs: 60_000 };

/** The answer for one message: allowed, or refused with the wait until the window ends. */
export type VisitorRateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

// KEYS[1] counter; ARGV[1] window ms. The first message of a window starts its clock.
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`;

/**
 * A fixed window per visitor in Redis, so the limit holds across gateway replicas. This guards
 * the gateway and the queue against one browser tab; the tenant's own messages-per-minute limit
 * is still the router's, as for every channel.
 */
export async function checkVisitorRate(
  redis: Redis,
  ref: { tenantId: string; connectionId: string; visitorId: string },
  limit: VisitorRateLimit = DEFAULT_VISITOR_RATE_LIMIT,
): Promise<VisitorRateDecision> {
  const key = redisKey(ref.tenantId, "webchat", ref.connectionId, ref.visitorId, "rate");
  const [count, ttlMs] = (await redis.eval(COUNT, 1, key, String(limit.windowMs))) as [number, number];
  if (count <= limit.messages) return { allowed: true };
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((ttlMs > 0 ? ttlMs : limit.windowMs) / 1000)) };
}
