import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";
import type { ChatMessage } from "./llm-provider.ts";

/**
 * Conversation memory per tenant, channel and thread: a Redis list of turns, trimmed to the
 * agent's `maxHistoryMessages` and expiring `ttlSeconds` after the last turn.
 */
export interface SessionMemory {
  load(tenantId: string, message: KonstructMessage, limit: number): Promise<ChatMessage[]>;
  /**
   * Appends the question and the answer, and sets `marker` (a hash field) in the same
   * MULTI, so a redelivered work item can tell the turns are already stored.
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

/** Redis-backed {@link SessionMemory}. */
export function createSessionMemory(redis: Redis, ttlSeconds: number): SessionMemory {
  return {
    async load(tenantId, message, limit) {
      if (limit <= 0) return [];
      const raw = await redis.lrange(sessionKey(tenantId, message), -limit, -1);
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
      const key = sessionKey(tenantId, message);
      const tx = redis.multi();
      if (limit > 0) {
        tx.rpush(key, ...turns.map((t) => JSON.stringify(t)));
        tx.ltrim(key, -limit, -1);
        tx.expire(key, ttlSeconds);
      }
      tx.hset(marker.key, marker.field, "1");
      const results = await tx.exec();
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw new Error(`storing the conversation turn failed: ${failed?.[0]?.message ?? "aborted"}`);
    },
  };
}
