import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/** Why the bot answers a message; `null` when it stays quiet. */
export type Engagement = "direct" | "mention" | "thread" | null;

/** The parts of engagement that need no state: a DM or an @mention of the bot. */
export function directEngagement(message: KonstructMessage): Engagement {
  if (message.channel.isDirect) return "direct";
  if (message.content.mentionsBot) return "mention";
  // Messages from a gateway older than `mentionsBot`: find the bot among the mentions.
  const bot = message.channel.botUserId;
  if (bot !== null && message.content.mentions.includes(bot)) return "mention";
  return null;
}

/** Remembers the threads the bot takes part in, so follow-ups need no new @mention. */
export interface EngagedThreads {
  isEngaged(tenantId: string, message: KonstructMessage): Promise<boolean>;
  markEngaged(tenantId: string, message: KonstructMessage): Promise<void>;
}

/** The key marking a thread the bot takes part in. */
export function threadKey(tenantId: string, message: KonstructMessage): string {
  const { channelType, channel, threadId } = message;
  return redisKey(tenantId, "engaged", channelType, keyPart(channel.workspaceId), keyPart(channel.channelId), keyPart(threadId));
}

/** Engaged threads in Redis, one key per thread with a TTL that each routed message renews. */
export function createEngagedThreads(redis: Redis, ttlSeconds: number): EngagedThreads {
  return {
    async isEngaged(tenantId, message) {
      return (await redis.exists(threadKey(tenantId, message))) === 1;
    },
    async markEngaged(tenantId, message) {
      await redis.set(threadKey(tenantId, message), "1", "EX", ttlSeconds);
    },
  };
}

/** Full engagement: DM or mention first (no Redis round trip), then an already engaged thread. */
export async function engagementOf(message: KonstructMessage, tenantId: string, threads: EngagedThreads): Promise<Engagement> {
  const direct = directEngagement(message);
  if (direct) return direct;
  return (await threads.isEngaged(tenantId, message)) ? "thread" : null;
}
