import type { KonstructMessage } from "@konstruct/core";

/**
 * True when the message was posted by our own bot: its user is the bot user the channel
 * delivered to, or it carries our app's bot id. Answering these would make the bot talk to
 * itself; Slack delivers the bot's own posts like anybody else's.
 */
export function isOwnMessage(message: KonstructMessage, ourBotId: string | null): boolean {
  const { sender, channel } = message;
  if (channel.botUserId !== null && sender.id === channel.botUserId) return true;
  if (ourBotId !== null && (sender.botId === ourBotId || sender.id === ourBotId)) return true;
  return false;
}
