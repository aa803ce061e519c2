import type { Channel, ChannelDeps } from "../gateway-channel.ts";
import { channelReplyDelivery } from "../reply-protocol.ts";
import { type BotApiUser, callBotApi } from "./api.ts";
import { createTelegramConnectionStore, type TelegramConnection, type TelegramConnectionStore } from "./connections.ts";
import { telegramChannel } from "./definition.ts";
import { telegramIngress } from "./ingress.ts";
import { createTelegramSender } from "./sender.ts";

/** The Bot API's public base URL, when `TELEGRAM_API_URL` is not set (the one the operator's hooks use too). */
export const DEFAULT_TELEGRAM_API_URL = telegramChannel.api.defaultUrl;

/** How long a bot's username from `getMe` is reused. */
const USERNAME_TTL_MS = 60 * 60_000;

/**
 * The bot's username by `getMe`, per connection, for an hour; only group messages that name
 * someone need it. A failure is not remembered: the webhook answers 503 and Telegram redelivers.
 */
export function createUsernameLookup(apiUrl: string, now: () => number = Date.now) {
  const cache = new Map<string, { username: string; expires: number; token: string }>();
  return async (connection: TelegramConnection): Promise<string> => {
    const hit = cache.get(connection.connectionId);
    if (hit && hit.expires > now() && hit.token === connection.botToken) return hit.username;
    const result = await callBotApi<BotApiUser>(apiUrl, connection.botToken, "getMe", {}, 5_000);
    if (result.kind === "no_answer") throw new Error(result.detail);
    if (result.kind === "error") throw new Error(`getMe: ${result.errorCode} ${result.description}`);
    const username = result.result?.username;
    if (typeof username !== "string" || !username) throw new Error("getMe: the bot has no username");
    if (cache.size >= 10_000) cache.delete(cache.keys().next().value as string);
    cache.set(connection.connectionId, { username, expires: now() + USERNAME_TTL_MS, token: connection.botToken });
    return username;
  };
}

/** The Telegram channel: webhook updates in, `sendMessage` replies out, one connection cache for both. */
export function createTelegramChannel(deps: ChannelDeps, overrides: { connections?: TelegramConnectionStore } = {}): Channel {
  const connections = overrides.connections ?? createTelegramConnectionStore({ db: deps.db, secretKey: deps.secretKey });
  const apiUrl = deps.settings.telegramApiUrl ?? DEFAULT_TELEGRAM_API_URL;
  return {
    type: "telegram",
    plugin: async (app) => {
      await app.register(telegramIngress, {
        publisher: deps.publisher,
        connections,
        botUsername: createUsernameLookup(apiUrl),
        metrics: deps.metrics,
        log: deps.log,
      });
    },
    outbound: channelReplyDelivery(createTelegramSender({ connections, telegramApiUrl: apiUrl }), deps),
  };
}
