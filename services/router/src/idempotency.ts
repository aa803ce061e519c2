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
 * claimed → decided → done, and "done" is written only after the publish succeeded; a crash
 * anywhere leaves a state from which the redelivery finishes the same decision, and the
 * publish itself is de-duplicated by NATS on its msgID.
 */
export interface Idempotency {
  claim(tenantId: string, message: KonstructMessage, deliveryKey: string): Promise<DeliveryClaim>;
  decide(tenantId: string, deliveryKey: string, decision: RouteDecision): Promise<RouteDecision>;
  done(tenantId: string, deliveryKey: string): Promise<void>;
}

const CLAIM = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'done' then return {'done'} end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[4] then return {'duplicate-post'} end
local decision = redis.call('HGET', KEYS[1], 'decision')
if decision then return {'decided', decision} end
if state == 'pending' and tonumber(redis.call('HGET', KEYS[1], 'lease') or '0') > tonumber(ARGV[1]) then
  return {'busy'}
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'lease', tonumber(ARGV[1]) + tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])
return {'claimed'}`;

// HSETNX: when two handlers race past a lapsed lease, the first decision wins and both publish it.
const DECIDE = `
redis.call('HSETNX', KEYS[1], 'decision', ARGV[1])
return redis.call('HGET', KEYS[1], 'decision')`;

function deliveryHash(tenantId: string, deliveryKey: string): string {
  return redisKey(tenantId, "idempotency", "delivery", keyPart(deliveryKey));
}

function postKey(tenantId: string, message: KonstructMessage): string {
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
      const reply = (await redis.eval(
        CLAIM,
        2,
        deliveryHash(tenantId, deliveryKey),
        postKey(tenantId, message),
        now(),
        options.leaseMs,
        options.ttlSeconds,
        deliveryKey,
      )) as [string, string?];
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
    },
    async decide(tenantId, deliveryKey, decision) {
      const stored = (await redis.eval(DECIDE, 1, deliveryHash(tenantId, deliveryKey), JSON.stringify(decision))) as string;
      return JSON.parse(stored) as RouteDecision;
    },
    async done(tenantId, deliveryKey) {
      await redis.hset(deliveryHash(tenantId, deliveryKey), "state", "done");
    },
  };
}
