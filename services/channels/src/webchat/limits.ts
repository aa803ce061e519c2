import { createHash } from "node:crypto";
import { redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/** At most `count` events per `windowMs`. */
export interface Window {
  count: number;
  windowMs: number;
}

/** How many messages a visitor may send per window. */
export interface VisitorRateLimit {
  messages: number;
  windowMs: number;
}

export const DEFAULT_VISITOR_RATE_LIMIT: VisitorRateLimit = { messages: 20, windowMs: 60_000 };

/**
 * What an anonymous client may cost, checked before anything is written for it. Counters are
 * per connection (so one tenant's visitors never spend another's), shared by every gateway
 * replica through Redis; stream caps are per gateway process.
 */
export interface AnonymousLimits {
  /** New or renewed sessions per client address. */
  sessionsPerAddress: Window;
  /** Messages per client address, whichever visitors it claims to be. */
  messagesPerAddress: Window;
  /** Open event streams per visitor, per client address and per connection, in one process. */
  streams: { perVisitor: number; perAddress: number; perConnection: number };
}

export const DEFAULT_ANONYMOUS_LIMITS: AnonymousLimits = {
  sessionsPerAddress: { count: 60, windowMs: 60_000 },
  messagesPerAddress: { count: 120, windowMs: 60_000 },
  streams: { perVisitor: 4, perAddress: 32, perConnection: 2_000 },
};

/** The answer for one request: allowed, or refused by one counter with the wait until its window ends. */
export type RateDecision = { allowed: true } | { allowed: false; counter: string; retryAfterSeconds: number };

/** One fixed-window counter to check. */
export interface Counter {
  name: string;
  key: string;
  limit: Window;
}

// KEYS: counters, checked in order; ARGV: limit and window ms of each. The first counter over
// its limit stops the check, so the ones after it are not spent: a flooding address exhausts
// its own counter, never the connection's budget that other visitors share.
const CHECK = `
for i = 1, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
    ttl = tonumber(ARGV[2 * i])
  end
  if n > tonumber(ARGV[2 * i - 1]) then return {i, ttl} end
end
return {0, 0}`;

/** Checks counters in one round trip; fixed windows in Redis, so the limits hold across replicas. */
export async function checkCounters(redis: Redis, counters: readonly Counter[]): Promise<RateDecision> {
  if (counters.length === 0) return { allowed: true };
  const args = counters.flatMap((c) => [String(c.limit.count), String(c.limit.windowMs)]);
  const [index, ttlMs] = (await redis.eval(CHECK, counters.length, ...counters.map((c) => c.key), ...args)) as [number, number];
  if (index === 0) return { allowed: true };
  const counter = counters[index - 1] as Counter;
  const wait = ttlMs > 0 ? ttlMs : counter.limit.windowMs;
  return { allowed: false, counter: counter.name, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
}

/** A client address as a key part: hashed, since IPv6 addresses hold the key separator. */
export function addressPart(address: string): string {
  return `a.${createHash("sha256").update(address).digest("base64url").slice(0, 22)}`;
}

type Ref = { tenantId: string; connectionId: string };

/** The counter of one visitor's messages. */
export function visitorMessages(ref: Ref & { visitorId: string }, limit: VisitorRateLimit): Counter {
  return {
    name: "visitor",
    key: redisKey(ref.tenantId, "webchat", ref.connectionId, ref.visitorId, "rate"),
    limit: { count: limit.messages, windowMs: limit.windowMs },
  };
}

/** The counter of one client address's messages or sessions on a connection. */
export function addressCounter(ref: Ref, address: string, what: "messages" | "sessions", limit: Window): Counter {
  return {
    name: `address_${what}`,
    key: redisKey(ref.tenantId, "webchat", ref.connectionId, addressPart(address), what),
    limit,
  };
}

/** The connection's own budget per minute: the tenant's messages-per-minute limit, before anything is published. */
export function connectionMessages(ref: Ref, messagesPerMinute: number): Counter {
  return {
    name: "connection",
    key: redisKey(ref.tenantId, "webchat", ref.connectionId, "budget"),
    limit: { count: messagesPerMinute, windowMs: 60_000 },
  };
}

/**
 * Counts open event streams by visitor, address and connection in this process, so that one
 * token (or one address) cannot hold every stream a replica can serve.
 */
export function createStreamCaps(limits: AnonymousLimits["streams"]) {
  const counts = new Map<string, number>();
  const keys = (ref: Ref & { visitorId: string }, address: string) =>
    [
      [`v:${ref.connectionId}:${ref.visitorId}`, limits.perVisitor],
      [`a:${ref.connectionId}:${address}`, limits.perAddress],
      [`c:${ref.connectionId}`, limits.perConnection],
    ] as const;
  return {
    /** Takes a place for one stream, or says which cap is full; `release` gives it back once. */
    acquire(ref: Ref & { visitorId: string }, address: string): { ok: true; release: () => void } | { ok: false; cap: string } {
      const entries = keys(ref, address);
      for (const [key, max] of entries) if ((counts.get(key) ?? 0) >= max) return { ok: false, cap: key.slice(0, 1) };
      for (const [key] of entries) counts.set(key, (counts.get(key) ?? 0) + 1);
      let released = false;
      return {
        ok: true,
        release: () => {
          if (released) return;
          released = true;
          for (const [key] of entries) {
            const n = (counts.get(key) ?? 1) - 1;
            if (n <= 0) counts.delete(key);
            else counts.set(key, n);
          }
        },
      };
    },
  };
}
