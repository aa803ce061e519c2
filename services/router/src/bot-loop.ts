import { type KonstructMessage, keyPart, redisKey } from "@konstruct/core";
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
const SPEND = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** A Redis-backed {@link BotLoopGuard}, shared by every router replica. */
export function createBotLoopGuard(redis: Redis, budget: number, windowSeconds: number): BotLoopGuard {
  return {
    async allow(tenantId, message) {
      if (!message.sender.isBot) return true;
      const ours = message.channel.botUserId ?? "none";
      const key = redisKey(tenantId, "botloop", message.channelType, keyPart(ours), keyPart(message.sender.id));
      const spent = Number(await redis.eval(SPEND, 1, key, windowSeconds * 1000));
      return spent <= budget;
    },
  };
}
