import { type KonstructMessage, redisScript } from "@konstruct/core";
import type { ChatMessage } from "./llm-provider.ts";
import { RUN_FIELDS, type RunProgress, type RunState, SETTLE_LUA, type SettledReply } from "./run-state.ts";
import { APPEND_ONCE_LUA, LOAD_BOUNDED_LUA, type SessionMemory, sessionKey } from "./session-memory.ts";
import { SLOT_ACQUIRE_LUA, type SlotHold, type TenantSlots } from "./tenant-slots.ts";

/** What a run learns in its first round trip. */
export interface RunStart {
  progress: RunProgress;
  history: ChatMessage[];
  /** The tenant slot, when one was free (held and renewed until settled). */
  slot: SlotHold | null;
}

/** What the settle step did besides storing the reply. */
export interface RunSettlement {
  /** The stored reply: this run's, or an earlier handler's when one settled first. */
  reply: SettledReply;
  /** The turn went into memory in this step (only when this run's reply was the one stored). */
  memoryAppended: boolean;
  /** This step claimed the reply's tokens for counting: the caller counts them, once. */
  tokensClaimed: boolean;
}

/**
 * The Redis steps of a run merged into two round trips, a first delivery's only ones when its
 * tenant has a slot free (a run paid five to seven before):
 *
 * - `start`: progress, a first try at the tenant's slot and the conversation so far;
 * - `settle`: store the reply (first writer wins), free the slot, append the turn to memory once
 *   and claim the tokens for counting — each with the same atomic check as its separate step.
 *
 * Nothing is written after the publish: a later delivery of the run finds its reply settled and
 * delivers it again, each step of that single on its own (run-agent.ts). Every key is the
 * tenant's, and the scripts run as the orchestrator's own Redis user (tenant users cannot script).
 */
export interface RunRedis {
  start(
    tenantId: string,
    message: KonstructMessage,
    deliveryKey: string,
    slotLimit: number,
    historyLimit: number,
  ): Promise<RunStart>;
  settle(request: {
    tenantId: string;
    message: KonstructMessage;
    deliveryKey: string;
    reply: SettledReply;
    /** The slot this run holds, freed in the same step. */
    slot: SlotHold | null;
    /** The turn to append (question and answer) with the agent's history limit; null for no turn. */
    turn: { turns: ChatMessage[]; limit: number } | null;
    countTokens: boolean;
  }): Promise<RunSettlement>;
}

// KEYS: run hash, slots, session list. ARGV: now, lease ms, slot limit, holder, history limit,
// max bytes per turn, max bytes in all. Returns {reply, tokens, memory, published, slot, skipped, turns}.
// `published`: written only by older orchestrators, after their publish; read for a rolling upgrade.
const START = redisScript(`${SLOT_ACQUIRE_LUA}
${LOAD_BOUNDED_LUA}
-- HMGET of the known fields, not HGETALL: what is read is bounded by what this code writes.
local progress = redis.call('HMGET', KEYS[1], '${RUN_FIELDS.reply}', '${RUN_FIELDS.tokens}', '${RUN_FIELDS.memory}', '${RUN_FIELDS.published}')
for i = 1, 4 do if not progress[i] then progress[i] = '' end end
if progress[4] == '1' or progress[1] ~= '' then
  return {progress[1], progress[2], progress[3], progress[4], 0, 0, {}}
end
local slot = slot_acquire(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
local history = {0, {}}
if tonumber(ARGV[5]) > 0 then history = load_bounded(KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])) end
return {progress[1], progress[2], progress[3], progress[4], slot, history[1], history[2]}`);

// KEYS: run hash, slots, session list. ARGV: reply JSON, run ttl, release slot (0/1), holder,
// append turn (0/1), history limit, session ttl, count tokens (0/1), turns…
// Returns {stored reply, memory appended (0/1), tokens claimed (0/1)}.
const SETTLE = redisScript(`${SETTLE_LUA}
${APPEND_ONCE_LUA}
local stored = settle_reply(KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('ZREM', KEYS[2], ARGV[4]) end
if stored ~= ARGV[1] then return {stored, 0, 0} end
local appended = 0
if ARGV[5] == '1' then
  local turns = {}
  for i = 9, #ARGV do turns[#turns + 1] = ARGV[i] end
  append_once(KEYS[3], KEYS[1], '${RUN_FIELDS.memory}', tonumber(ARGV[6]), ARGV[7], turns)
  appended = 1
end
local tokens = 0
if ARGV[8] == '1' then tokens = redis.call('HSETNX', KEYS[1], '${RUN_FIELDS.tokens}', '1') end
return {stored, appended, tokens}`);

/** The run's merged Redis steps over the connection of `state`. */
export function createRunRedis(
  state: RunState,
  slots: TenantSlots,
  memory: SessionMemory,
  now: () => number = Date.now,
): RunRedis {
  const { redis } = state;
  return {
    async start(tenantId, message, deliveryKey, slotLimit, historyLimit) {
      const [reply, tokens, memoryFlag, published, slot, skipped, turns] = (await START(
        redis,
        [state.key(tenantId, deliveryKey), slots.key(tenantId), sessionKey(tenantId, message)],
        [now(), slots.leaseMs, slotLimit, deliveryKey, historyLimit, memory.bounds.maxTurnBytes, memory.bounds.maxTotalBytes],
      )) as [string, string, string, string, number, number, string[]];
      return {
        progress: {
          reply: reply ? (JSON.parse(reply) as SettledReply) : null,
          tokensRecorded: tokens === "1",
          memoryAppended: memoryFlag === "1",
          published: published === "1",
        },
        history: memory.received(tenantId, skipped, turns),
        slot: slot === 1 ? slots.hold(tenantId, deliveryKey) : null,
      };
    },
    async settle({ tenantId, message, deliveryKey, reply, slot, turn, countTokens }) {
      const json = JSON.stringify(reply);
      slot?.stop();
      const settled = SETTLE(
        redis,
        [state.key(tenantId, deliveryKey), slots.key(tenantId), sessionKey(tenantId, message)],
        [
          json,
          state.ttlSeconds,
          slot ? 1 : 0,
          deliveryKey,
          turn ? 1 : 0,
          Math.max(0, turn?.limit ?? 0),
          memory.ttlSeconds,
          countTokens ? 1 : 0,
          ...(turn?.turns ?? []).map((t) => JSON.stringify(t)),
        ],
      ).catch(async (error: unknown) => {
        // The slot must not wait for its lease to run out because this step failed.
        await slot?.release().catch(() => {});
        throw error;
      });
      const [stored, appended, claimed] = (await settled) as [string, number, number];
      return {
        reply: stored === json ? reply : (JSON.parse(stored) as SettledReply),
        memoryAppended: appended === 1,
        tokensClaimed: claimed === 1,
      };
    },
  };
}
