import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";

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

/**
 * The key marking a thread the bot takes part in, so follow-ups need no new @mention. The
 * admission script (admission.ts) reads it and sets it, with a TTL that each work item routed in the thread renews.
 */
export function threadKey(tenantId: string, message: KonstructMessage): string {
  const { channelType, channel, threadId } = message;
  return redisKey(tenantId, "engaged", channelType, keyPart(channel.workspaceId), keyPart(channel.channelId), keyPart(threadId));
}
