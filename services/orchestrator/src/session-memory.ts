import { type KonstructMessage, keyPart, redisKey, redisScript } from "@konstruct/core";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { ChatMessage } from "./llm-provider.ts";

/**
 * Conversation memory per tenant, channel and thread: a Redis list of turns, trimmed to the
 * agent's `maxHistoryMessages` and expiring `ttlSeconds` after the last turn.
 */
export interface SessionMemory {
  readonly ttlSeconds: number;
  readonly bounds: { maxTurnBytes: number; maxTotalBytes: number };
  /** Turns as `load_bounded` returned them → chat messages, warning about the oversized ones it skipped. */
  received(tenantId: string, skipped: number, raw: readonly string[]): ChatMessage[];
  load(tenantId: string, message: KonstructMessage, limit: number): Promise<ChatMessage[]>;
  /**
   * Appends the question and the answer unless `marker` (a hash field) is already set, and
   * sets it in the same atomic step: a work item's turn is stored once, however often it runs.
   */
  append(
    tenantId: string,
    message: KonstructMessage,
    turns: ChatMessage[],
    limit: number,
    marker: { key: string; field: string },
  ): Promise<void>;
}

/** The Redis key of a conversation. */
export function sessionKey(tenantId: string, message: KonstructMessage): string {
  const { channelType, channel, threadId } = message;
  return redisKey(tenantId, "session", channelType, keyPart(channel.workspaceId), keyPart(channel.channelId), keyPart(threadId));
}

// Check-and-append in one step: two handlers of the same redelivered item (a slow run and
// its redelivery) both reach this step, and only the first may add the turn. `append_once` is
// also part of the run's settle step (run-redis.ts).
export const APPEND_ONCE_LUA = `
local function append_once(list, marker_key, marker_field, limit, ttl, turns)
  if redis.call('HGET', marker_key, marker_field) == '1' then return 0 end
  if limit > 0 then
    for i = 1, #turns do redis.call('RPUSH', list, turns[i]) end
    redis.call('LTRIM', list, -limit, -1)
    redis.call('EXPIRE', list, ttl)
  end
  redis.call('HSET', marker_key, marker_field, '1')
  return 1
end`;

const APPEND_ONCE = redisScript(`${APPEND_ONCE_LUA}
local turns = {}
for i = 4, #ARGV do turns[#turns + 1] = ARGV[i] end
return append_once(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], turns)`);

/**
 * What one load may bring back: a turn larger than `maxTurnBytes` is skipped (with a warning),
 * and turns are taken newest first until `maxTotalBytes`, so a poisoned or runaway list costs
 * neither the orchestrator's memory nor the model's context.
 */
export const SESSION_MEMORY_BOUNDS = Object.freeze({ maxTurnBytes: 64 * 1024, maxTotalBytes: 512 * 1024 });

// The list's newest `wanted` turns, skipping those over `max_turn` bytes, up to `budget` bytes in
// all. Filtered in Redis, so an oversized entry never crosses the network. Returns {skipped, turns}.
// `load_bounded` is also part of the run's first round trip (run-redis.ts).
export const LOAD_BOUNDED_LUA = `
local function load_bounded(list, wanted, max_turn, budget)
  local items = redis.call('LRANGE', list, -wanted, -1)
  local kept, skipped = {}, 0
  for i = #items, 1, -1 do
    local size = string.len(items[i])
    if size > max_turn then
      skipped = skipped + 1
    elseif size > budget then
      break
    else
      budget = budget - size
      table.insert(kept, 1, items[i])
    end
  end
  return {skipped, kept}
end`;

const LOAD_BOUNDED = redisScript(`${LOAD_BOUNDED_LUA}
return load_bounded(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))`);

/** Turns as a load returns them (JSON strings) → chat messages; anything else is dropped. */
export function parseTurns(raw: readonly string[]): ChatMessage[] {
  return raw.flatMap((entry) => {
    try {
      const turn = JSON.parse(entry) as ChatMessage;
      return turn.role === "user" || turn.role === "assistant" ? [{ role: turn.role, content: String(turn.content) }] : [];
    } catch {
      return [];
    }
  });
}

/** Redis-backed {@link SessionMemory}; `log` hears about skipped oversized turns. */
export function createSessionMemory(
  redis: Redis,
  ttlSeconds: number,
  log?: Logger,
  bounds: { maxTurnBytes: number; maxTotalBytes: number } = SESSION_MEMORY_BOUNDS,
): SessionMemory {
  const received = (tenantId: string, skipped: number, raw: readonly string[]) => {
    if (skipped > 0) {
      log?.warn({ tenantId, skipped, maxTurnBytes: bounds.maxTurnBytes }, "ignored oversized turns in conversation memory");
    }
    return parseTurns(raw);
  };
  return {
    ttlSeconds,
    bounds,
    received,
    async load(tenantId, message, limit) {
      if (limit <= 0) return [];
      const [skipped, raw] = (await LOAD_BOUNDED(
        redis,
        [sessionKey(tenantId, message)],
        [limit, bounds.maxTurnBytes, bounds.maxTotalBytes],
      )) as [number, string[]];
      return received(tenantId, skipped, raw);
    },
    async append(tenantId, message, turns, limit, marker) {
      await APPEND_ONCE(
        redis,
        [sessionKey(tenantId, message), marker.key],
        [marker.field, Math.max(0, limit), ttlSeconds, ...turns.map((t) => JSON.stringify(t))],
      );
    },
  };
}
