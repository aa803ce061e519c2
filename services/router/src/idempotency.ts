import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";
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
 * claimed → decided → done: the claim and the decision are one step of the router's admission
 * script (admission.ts, with `claim_delivery` below), and "done" is written only after the
 * publish succeeded; a crash anywhere leaves a state from which the redelivery finishes the same
 * decision, and the publish itself is de-duplicated by NATS on its msgID.
 */
export interface Idempotency {
  done(tenantId: string, deliveryKey: string): Promise<void>;
}

// `claim_delivery`, a step of the router's admission script (admission.ts).
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

/** Redis-backed {@link Idempotency}. */
export function createIdempotency(redis: Redis): Idempotency {
  return {
    async done(tenantId, deliveryKey) {
      await redis.hset(deliveryHash(tenantId, deliveryKey), "state", "done");
    },
  };
}
