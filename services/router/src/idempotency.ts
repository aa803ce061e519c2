import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";

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
  /** A previous attempt decided, and may or may not have published: publish again (once: see below). */
  | { kind: "decided"; decision: RouteDecision }
  /** Handled by an older router, which marked a delivery done after its publish (read during a rolling upgrade). */
  | { kind: "done" }
  /** The same post arrived under another delivery id (Slack's `message` and `app_mention` twins). */
  | { kind: "duplicate-post" }
  /** Another handler holds a live lease on this delivery right now. */
  | { kind: "busy" };

/*
 * Delivery idempotency in Redis. Each delivery key has a hash `{state, lease, decision}` and
 * each post (channel + message id) remembers which delivery claimed it. `claim_delivery` below
 * is a step of the router's admission script (admission.ts), which stores the decision in the
 * same atomic step (the lease matters only should that script fail between the two), and
 * nothing is written after the publish. So every later delivery of it (a crash's redelivery, a
 * channel's retry that reached the stream again) gets `decided` and publishes the same decision
 * again, and that reaches the person once:
 *
 * - within 15 minutes JetStream drops the publish by its msgID, `work:<key>` or `reply:<key>`
 *   (the streams' duplicate window, core's nats/streams.ts);
 * - later, a repeated work item meets the orchestrator's run state (`runStateTtlSeconds`, 24 h
 *   from the run's settle, which comes after this hash's claim, so with the defaults it outlives
 *   this hash): a run whose reply is settled publishes that reply again under its reply id,
 *   without asking the model or counting its tokens or turn again (two copies running at once
 *   keep the first settled);
 * - every reply, a notice included, is posted under its reply id through the outbound reply
 *   ledger (3 days, channels' reply-ledger.ts) or the web chat's append-once marker (24 h),
 *   which post a reply id once.
 *
 * The hash lives `idempotencyTtlSeconds` (24 h) from its claim: a delivery seen after that is
 * new, as it always was. State `done`, which older routers wrote after the publish, still reads
 * as done.
 */

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
