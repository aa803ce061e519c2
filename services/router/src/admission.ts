import { type KonstructMessage, redisScript } from "@konstruct/core";
import type { Redis } from "ioredis";
import { BOT_SPEND_LUA, botLoopKey } from "./bot-loop.ts";
import { threadKey } from "./engagement.ts";
import { CLAIM_LUA, claimOf, type DeliveryClaim, deliveryHash, postKey, type RouteDecision } from "./idempotency.ts";
import { RATE_CHECK_LUA, rateWindow } from "./rate-limit.ts";

/** What the router asks Redis before it publishes a delivery. */
export interface AdmissionRequest {
  tenantId: string;
  message: KonstructMessage;
  deliveryKey: string;
  /** True when only an engaged thread makes the bot answer (no DM, no mention): checked first. */
  needsEngagedThread: boolean;
  messagesPerMinute: number;
  /** The decision when neither the bot-loop budget nor the rate limit stops the message (the agent, or none). */
  decision: RouteDecision;
}

/**
 * The delivery's state after admission: `admitted` with this attempt's decision, `decided` with
 * a previous attempt's (publish it again), or why nothing is to be published.
 */
export type Admission =
  | { kind: "not-engaged" }
  | { kind: "admitted"; decision: RouteDecision }
  | Exclude<DeliveryClaim, { kind: "claimed" }>;

/**
 * Engagement, claim, bot-loop budget, rate limit, decision and the engaged-thread mark of one
 * delivery in one atomic step: the router's only Redis round trip per message (route-message.ts).
 */
export interface RouterAdmission {
  admit(request: AdmissionRequest): Promise<Admission>;
}

// One script instead of the separate steps (engaged thread, claim, rate limit, decision store,
// thread mark). The counters run only after a successful claim, and the decision is stored in
// the same step, so a redelivery finds it and repeats it instead of spending budget twice.
// Nothing is written after the publish: a redelivery gets `decided` and publishes again under
// the same msgID (what keeps that single: idempotency.ts).
//
// A "work" decision engages its thread here, not after the publish: a crash before the publish
// leaves the decision, and its redelivery publishes the same work. The `decided` path renews the
// mark too: the decision may have been stored by an older router, which set the mark only after
// its publish and may have died before it; in this step the SET costs no round trip.
//
// KEYS: delivery hash, post key, engaged-thread key, rate count, rate notice, bot-loop pair
// ARGV: now, lease ms, ttl s, delivery key, needs engaged thread, is bot, bot budget,
//       bot window ms, rate limit, rate ttl ms, decision JSON if admitted, the JSON of the
//       notice, limited and bot-loop decisions, engaged-thread ttl s
const ADMIT = redisScript(`${CLAIM_LUA}
${BOT_SPEND_LUA}
${RATE_CHECK_LUA}
local function engage(decision)
  if cjson.decode(decision).kind == 'work' then redis.call('SET', KEYS[3], '1', 'EX', ARGV[15]) end
end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then return {'not-engaged'} end
local claim = claim_delivery(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4])
if claim[1] == 'decided' then engage(claim[2]) end
if claim[1] ~= 'claimed' then return claim end
local decision
if ARGV[6] == '1' and bot_spend(KEYS[6], ARGV[8]) > tonumber(ARGV[7]) then decision = ARGV[14] end
if not decision then
  local rate = rate_check(KEYS[4], KEYS[5], tonumber(ARGV[9]), ARGV[10])
  if rate[1] == 1 then decision = ARGV[11] elseif rate[3] == 1 then decision = ARGV[12] else decision = ARGV[13] end
end
redis.call('HSET', KEYS[1], 'decision', decision)
engage(decision)
return {'admitted', decision}`);

const NOTICE = JSON.stringify({ kind: "notice" } satisfies RouteDecision);
const LIMITED = JSON.stringify({ kind: "limited" } satisfies RouteDecision);
const BOT_LOOP = JSON.stringify({ kind: "bot-loop" } satisfies RouteDecision);

/** Options for {@link createRouterAdmission}, from the router's settings. */
export interface RouterAdmissionOptions {
  idempotencyTtlSeconds: number;
  /** How long a thread stays engaged after the last work routed in it. */
  engagedThreadTtlSeconds: number;
  leaseMs: number;
  botLoopBudget: number;
  botLoopWindowSeconds: number;
  now?: () => number;
}

/** The router's admission in Redis: one round trip per delivery, before its publish and none after. */
export function createRouterAdmission(redis: Redis, options: RouterAdmissionOptions): RouterAdmission {
  const now = options.now ?? Date.now;
  return {
    async admit({ tenantId, message, deliveryKey, needsEngagedThread, messagesPerMinute, decision }) {
      const at = now();
      const rate = rateWindow(tenantId, messagesPerMinute, at);
      const pair = botLoopKey(tenantId, message);
      const reply = (await ADMIT(
        redis,
        [
          deliveryHash(tenantId, deliveryKey),
          postKey(tenantId, message),
          threadKey(tenantId, message),
          rate.countKey,
          rate.noticeKey,
          // A person's message spends no bot-loop budget; the script never touches this key then.
          pair ?? rate.countKey,
        ],
        [
          at,
          options.leaseMs,
          options.idempotencyTtlSeconds,
          deliveryKey,
          needsEngagedThread ? 1 : 0,
          pair ? 1 : 0,
          options.botLoopBudget,
          options.botLoopWindowSeconds * 1000,
          rate.limit,
          rate.ttlMs,
          JSON.stringify(decision),
          NOTICE,
          LIMITED,
          BOT_LOOP,
          options.engagedThreadTtlSeconds,
        ],
      )) as [string, string?];
      if (reply[0] === "not-engaged") return { kind: "not-engaged" };
      if (reply[0] === "admitted") return { kind: "admitted", decision: JSON.parse(reply[1] ?? "{}") as RouteDecision };
      const claim = claimOf(reply);
      if (claim.kind === "claimed") throw new Error("the admission script claimed a delivery without deciding it");
      return claim;
    },
  };
}
