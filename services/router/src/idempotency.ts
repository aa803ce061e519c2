import { type KonstructMessage, keyPart, redisKey, redisScript } from "@konstruct/core";
import type { Redis } from "ioredis";

/** What the router decided for a delivery, remembered so a redelivery repeats it instead of deciding again. */
export type RouteDecision =
  | { kind: "work"; agentId: string }
  | { kind: "notice" }
  | { kind: "limited" }
  | { kind: "bot-loop" }
  | { kind: "no-agent" };

/** The state of a delivery when a handler starts on it. */
export type DeliveryClaim =
  /** First (or a crashed owner's lease ran out): this handler owns the delivery now. */
  | { kind: "claimed" }
  /** A previous attempt decided but may not have published: redo the publish (de-duplicated by msgID). */
  | { kind: "decided"; decision: RouteDecision }
  /** Fully handled earlier. */
  | { kind: "done" }
  /** The same post arrived under another delivery id (Slack's `message` and `app_mention` twins). */
  | { kind: "duplicate-post" }
  /** Another handler holds a live lease on this delivery right now. */
  | { kind: "busy" };

/**
 * Delivery idempotency in Redis. Each delivery key has a hash `{state, lease, decision}` and
 * each post (channel + message id) remembers which delivery claimed it. The states move
 * claimed → decided → done, and "done" is written only after the publish succeeded; a crash
 * anywhere leaves a state from which the redelivery finishes the same decision, and the
 * publish itself is de-duplicated by NATS on its msgID.
 */
export interface Idempotency {
  claim(tenantId: string, message: KonstructMessage, deliveryKey: string): Promise<DeliveryClaim>;
  decide(tenantId: string, deliveryKey: string, decision: RouteDecision): Promise<RouteDecision>;
  done(tenantId: string, deliveryKey: string): Promise<void>;
}

// `claim_delivery` is also part of the router's admission script (admission.ts).
export const CLAIM_LUA = `
local function claim_delivery(delivery_hash, post_key, now, lease_ms, ttl_seconds, delivery_key)
  local state = redis.call('HGET', delivery_hash, 'state')
  if state == 'done' then return {'done'} end
  local owner = redis.call('GET', post_key)
  if owner and owner ~= delivery_key then return {'duplicate-post'} end
  local decision = redis.call('HGET', delivery_hash, 'decision')
  if decision then return {'decided', decision} end
  if state == 'pending' and tonumber(redis.call('HGET', delivery_hash, 'lease') or '0') > now then
    return {'busy'}
  end
  redis.call('HSET', delivery_hash, 'state', 'pending', 'lease', now + lease_ms)
  redis.call('EXPIRE', delivery_hash, ttl_seconds)
  redis.call('SET', post_key, delivery_key, 'EX', ttl_seconds)
  return {'claimed'}
end`;

const CLAIM = redisScript(`${CLAIM_LUA}
return claim_delivery(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4])`);

// HSETNX: when two handlers race past a lapsed lease, the first decision wins and both publish it.
const DECIDE = redisScript(`
redis.call('HSETNX', KEYS[1], 'decision', ARGV[1])
return redis.call('HGET', KEYS[1], 'decision')`);

/** Reads a claim script's reply. */
export function claimOf(reply: [string, string?]): DeliveryClaim {
  switch (reply[0]) {
    case "decided":
      return { kind: "decided", decision: JSON.parse(reply[1] ?? "{}") as RouteDecision };
    case "done":
    case "duplicate-post":
    case "busy":
    case "claimed":
      return { kind: reply[0] };
    default:
      throw new Error(`unexpected idempotency claim reply ${JSON.stringify(reply[0])}`);
  }
}

/** The hash recording a delivery's state, lease and decision. */
export function deliveryHash(tenantId: string, deliveryKey: string): string {
  return redisKey(tenantId, "idempotency", "delivery", keyPart(deliveryKey));
}

/** Which delivery claimed a post (channel + message id). */
export function postKey(tenantId: string, message: KonstructMessage): string {
  const { channelType, channel } = message;
  return redisKey(
    tenantId,
    "idempotency",
    "post",
    channelType,
    keyPart(channel.workspaceId),
    keyPart(channel.channelId),
    keyPart(channel.messageId),
  );
}

/** Redis-backed {@link Idempotency}; `leaseMs` should match the consumer's ack wait. */
export function createIdempotency(
  redis: Redis,
  options: { ttlSeconds: number; leaseMs: number; now?: () => number },
): Idempotency {
  const now = options.now ?? Date.now;
  return {
    async claim(tenantId, message, deliveryKey) {
      const reply = (await CLAIM(
        redis,
        [deliveryHash(tenantId, deliveryKey), postKey(tenantId, message)],
        [now(), options.leaseMs, options.ttlSeconds, deliveryKey],
      )) as [string, string?];
      return claimOf(reply);
    },
    async decide(tenantId, deliveryKey, decision) {
      const stored = (await DECIDE(redis, [deliveryHash(tenantId, deliveryKey)], [JSON.stringify(decision)])) as string;
      return JSON.parse(stored) as RouteDecision;
    },
    async done(tenantId, deliveryKey) {
      await redis.hset(deliveryHash(tenantId, deliveryKey), "state", "done");
    },
  };
}
