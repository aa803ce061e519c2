import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { ChatMessage } from "./llm-provider.ts";

/**
 * Conversation memory per tenant, channel and thread: a Redis list of turns, trimmed to the
 * agent's `maxHistoryMessages` and expiring `ttlSeconds` after the last turn.
 */
export interface SessionMemory {
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

// Check-and-append in one script: two handlers of the same redelivered item (a slow run and
// its redelivery) both reach this step, and only the first may add the turn.
const APPEND_ONCE = `
if redis.call('HGET', KEYS[2], ARGV[1]) == '1' then return 0 end
local limit = tonumber(ARGV[2])
if limit > 0 then
  for i = 4, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
  redis.call('LTRIM', KEYS[1], -limit, -1)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
redis.call('HSET', KEYS[2], ARGV[1], '1')
return 1`;

/**
 * What one load may bring back: a turn larger than `maxTurnBytes` is skipped (with a warning),
 * and turns are taken newest first until `maxTotalBytes`, so a poisoned or runaway list costs
 * neither the orchestrator's memory nor the model's context.
 */
export const SESSION_MEMORY_BOUNDS = Object.freeze({ maxTurnBytes: 64 * 1024, maxTotalBytes: 512 * 1024 });

// KEYS[1] the list; ARGV[1] turns wanted, ARGV[2] max bytes per turn, ARGV[3] max bytes in all.
// Filtered in Redis, so an oversized entry never crosses the network. Returns {skipped, turns}.
const LOAD_BOUNDED = `
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local maxTurn, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local kept, skipped = {}, 0
for i = #items, 1, -1 do
  local size = string.len(items[i])
  if size > maxTurn then
    skipped = skipped + 1
  elseif size > budget then
    break
  else
    budget = budget - size
    table.insert(kept, 1, items[i])
  end
end
return {skipped, kept}`;

/** Redis-backed {@link SessionMemory}; `log` hears about skipped oversized turns. */
export function createSessionMemory(
  redis: Redis,
  ttlSeconds: number,
  log?: Logger,
  bounds: { maxTurnBytes: number; maxTotalBytes: number } = SESSION_MEMORY_BOUNDS,
): SessionMemory {
  return {
    async load(tenantId, message, limit) {
      if (limit <= 0) return [];
      const [skipped, raw] = (await redis.eval(
        LOAD_BOUNDED,
        1,
        sessionKey(tenantId, message),
        limit,
        bounds.maxTurnBytes,
        bounds.maxTotalBytes,
      )) as [number, string[]];
      if (skipped > 0) {
        log?.warn({ tenantId, skipped, maxTurnBytes: bounds.maxTurnBytes }, "ignored oversized turns in conversation memory");
      }
      return raw.flatMap((entry) => {
        try {
          const turn = JSON.parse(entry) as ChatMessage;
          return turn.role === "user" || turn.role === "assistant" ? [{ role: turn.role, content: String(turn.content) }] : [];
        } catch {
          return [];
        }
      });
    },
    async append(tenantId, message, turns, limit, marker) {
      await redis.eval(
        APPEND_ONCE,
        2,
        sessionKey(tenantId, message),
        marker.key,
        marker.field,
        Math.max(0, limit),
        ttlSeconds,
        ...turns.map((t) => JSON.stringify(t)),
      );
    },
  };
}
