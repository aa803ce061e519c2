import type { OutboundReply } from "@konstruct/core";
import type { PostResult, ReplySender } from "../reply-protocol.ts";
import { cutReplyText } from "../reply-text.ts";
import { type BotApiResult, callBotApi } from "./api.ts";
import type { TelegramConnection, TelegramConnectionStore } from "./connections.ts";

/** Telegram's limit on a message's text; longer replies are cut there (one reply, one message). */
export const TELEGRAM_TEXT_LIMIT = 4096;

/** What the Telegram sender needs. */
export interface TelegramSenderOptions {
  connections: TelegramConnectionStore;
  /** Bot API base URL (`TELEGRAM_API_URL`), without the `/bot<token>/` part. */
  telegramApiUrl: string;
  /** Timeout of one Bot API call. */
  callTimeoutMs?: number;
}

/**
 * Refusals no retry can fix, by what Telegram's description says (its error codes are plain
 * HTTP statuses): the chat is gone or the bot may not write there, or the token is revoked.
 */
const PERMANENT_DESCRIPTIONS = [
  "chat not found",
  "bot was blocked",
  "bot was kicked",
  "bot is not a member",
  "user is deactivated",
  "have no rights to send",
  "not enough rights",
  "group chat was upgraded",
  "chat_write_forbidden",
  "message is too long",
  "message text is empty",
];

/** Maps one failed `sendMessage` to what the reply protocol does next. */
export function telegramPostFailure(result: Exclude<BotApiResult<unknown>, { kind: "ok" }>): PostResult {
  if (result.kind === "no_answer") return { kind: "uncertain", detail: result.detail };
  const detail = `sendMessage: ${result.errorCode} ${result.description}`;
  if (result.errorCode === 429 || result.status === 429) {
    return { kind: "rate_limited", retryAfterMs: Math.max(1, result.retryAfterSeconds ?? 1) * 1_000 };
  }
  // A 5xx may have posted before it failed: the protocol treats it like a lost response.
  if (result.status >= 500 || result.errorCode >= 500) return { kind: "uncertain", detail };
  const description = result.description.toLowerCase();
  const permanent =
    result.errorCode === 401 || result.errorCode === 403 || PERMANENT_DESCRIPTIONS.some((d) => description.includes(d));
  return { kind: "refused", permanent, detail };
}

/**
 * Telegram's side of the reply protocol: `sendMessage` to the chat, replying to the message it
 * answers (`reply_parameters`, sent even if that message was deleted meanwhile; in a forum the
 * reply lands in the question's topic).
 *
 * There is no `find`: the Bot API cannot list a chat's messages or look a sent one up, so a post
 * whose answer was lost (a timeout, a 5xx) can never be checked. The protocol then dead-letters
 * the reply instead of posting it again — at most once, as everywhere: a question may go
 * unanswered (the reply is in the dead-letter stream), but it is never answered twice.
 */
export function createTelegramSender(options: TelegramSenderOptions): ReplySender<TelegramConnection> {
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  return {
    channel: "telegram",
    async target(reply) {
      const connection = await options.connections.get(reply.connectionId);
      if (!connection || connection.tenantId !== reply.tenantId || connection.botId !== reply.target.workspaceId) {
        return { ok: false, reason: `Telegram connection ${reply.connectionId} not found for tenant ${reply.tenantId}` };
      }
      return { ok: true, connection };
    },
    async post(reply, connection) {
      const result = await callBotApi<{ message_id?: unknown }>(
        options.telegramApiUrl,
        connection.botToken,
        "sendMessage",
        sendMessageBody(reply),
        callTimeoutMs,
      );
      if (result.kind !== "ok") return telegramPostFailure(result);
      const id = result.result?.message_id;
      return { kind: "posted", messageId: typeof id === "number" ? String(id) : null };
    },
  };
}

/** The `sendMessage` parameters of one reply. */
export function sendMessageBody(reply: OutboundReply): Record<string, unknown> {
  const replyTo = Number(reply.target.inReplyToMessageId);
  return {
    chat_id: reply.target.channelId,
    text: cutReplyText(reply.text, TELEGRAM_TEXT_LIMIT),
    ...(Number.isSafeInteger(replyTo) ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
  };
}
