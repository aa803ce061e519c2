import type { ChannelDefinition } from "../definition.ts";
import { checkTelegramCredentials, connectTelegramWebhook, disconnectTelegramWebhook } from "./webhook.ts";

/** A Telegram connection's webhook: Telegram posts each Update here, with the connection's secret token. */
export const TELEGRAM_CONNECTION_ROUTE = "/webhooks/telegram/:connectionId";

/** Keys a Telegram channel's credentials Secret holds. */
export const TELEGRAM_SECRET_KEYS = ["botToken", "webhookSecret"] as const;

/**
 * Removes the bot's address from a message: `@somebot` mentions and the `@somebot` suffix of a
 * `/command@somebot`. Telegram requires every bot username to end in "bot", and only the
 * username (not the numeric id passed here) appears in the text, so any `@…bot` handle goes: it
 * addresses a bot, it is not part of the question.
 */
export function stripTelegramBotMention(text: string, _botUserId: string | null): string {
  return text
    .replace(/@[A-Za-z0-9_]{2,29}bot\b/gi, "")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Telegram: a bot's webhook in, `sendMessage` replying to the message out.
 *
 * The external id is the bot's numeric user id — the part of the bot token before the colon,
 * which never changes, whereas a username can be handed on. The gateway checks that the stored
 * token belongs to that id, and uses it to recognise the bot's own messages and replies to them.
 */
export const telegramChannel = {
  type: "telegram",
  summary: "a Telegram bot: webhook updates in, sendMessage replying to the message out",
  externalId: {
    description: "the bot's numeric user id, the part of its token before the colon, such as 123456789",
    pattern: "^[1-9][0-9]{0,19}$",
    patternMessage: "a telegram channel's externalId is the bot's numeric id (its token's part before the colon), e.g. 123456789",
  },
  credentials: { required: TELEGRAM_SECRET_KEYS, optional: [] },
  checkCredentials: checkTelegramCredentials,
  api: { variable: "TELEGRAM_API_URL", defaultUrl: "https://api.telegram.org" },
  // The operator registers the webhook with its secret token, and removes it with the channel.
  connect: connectTelegramWebhook,
  disconnect: disconnectTelegramWebhook,
  specFields: {},
  settings: () => ({}),
  connectionRoute: TELEGRAM_CONNECTION_ROUTE,
  questionText: stripTelegramBotMention,
  gateway: async () => (await import("./gateway.ts")).createTelegramChannel,
} as const satisfies ChannelDefinition;
