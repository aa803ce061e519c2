import { type KonstructMessage, keyPart, redisKey, redisScript } from "@konstruct/core";
import type { Redis } from "ioredis";

/**
 * The bot-loop guard: two bots that answer each other (ours and another tenant's, or any
 * other app) would talk forever. Each pair (our bot user, the other bot) gets a budget of
 * answered messages per window; past it, the other bot's messages are dropped until the
 * window ends. Messages from people never count.
 */
export interface BotLoopGuard {
  /** Spends one unit of the pair's budget; false when it is exhausted. */
  allow(tenantId: string, message: KonstructMessage): Promise<boolean>;
}

// INCR and the first PEXPIRE in one script, so a crash between them cannot leave a counter
// without expiry that would silence the pair forever.
// `bot_spend` is also part of the router's admission script (admission.ts).
export const BOT_SPEND_LUA = `
local function bot_spend(key, window_ms)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window_ms) end
  return n
end`;

const SPEND = redisScript(`${BOT_SPEND_LUA}
return bot_spend(KEYS[1], ARGV[1])`);

/** The budget key of the pair (our bot, the sending bot); null for a message from a person. */
export function botLoopKey(tenantId: string, message: KonstructMessage): string | null {
  if (!message.sender.isBot) return null;
  const ours = message.channel.botUserId ?? "none";
  return redisKey(tenantId, "botloop", message.channelType, keyPart(ours), keyPart(message.sender.id));
}

/** A Redis-backed {@link BotLoopGuard}, shared by every router replica. */
export function createBotLoopGuard(redis: Redis, budget: number, windowSeconds: number): BotLoopGuard {
  return {
    async allow(tenantId, message) {
      const key = botLoopKey(tenantId, message);
      if (key === null) return true;
      const spent = Number(await SPEND(redis, [key], [windowSeconds * 1000]));
      return spent <= budget;
    },
  };
}
