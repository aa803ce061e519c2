import { compile, type KonstructMessage, MessageValidationError, newId } from "@konstruct/core";
import { type Static, Type } from "@sinclair/typebox";

/**
 * Telegram Bot API Update → KonstructMessage.
 *
 * One webhook request carries one Update: an `update_id` and exactly one of `message`,
 * `edited_message`, `channel_post`, … . Only `message` with text is answered. The shapes accept
 * what the Bot API documents and ignore unknown fields, since Telegram adds fields often.
 *
 * What a thread is, for Telegram (which has no threads outside forum topics):
 * - a private chat is one conversation: thread = the chat;
 * - in a group, the messages that address the bot (an @mention, a `/command@bot`, or a reply to
 *   one of the bot's messages) form one conversation per chat — per topic in a forum — so a
 *   follow-up that replies to the bot's answer keeps the context; thread = the chat (or topic);
 * - any other group message gets a thread of its own (chat and message id), which the bot never
 *   takes part in: group chatter engages the bot only by mention or reply, never because the bot
 *   answered someone earlier.
 */
const User = Type.Object({
  id: Type.Integer(),
  is_bot: Type.Boolean(),
  first_name: Type.Optional(Type.String()),
  last_name: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
});

const Entity = Type.Object({
  type: Type.String(),
  offset: Type.Integer({ minimum: 0 }),
  length: Type.Integer({ minimum: 0 }),
  user: Type.Optional(User),
});

const Chat = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
});

const RepliedMessage = Type.Object({
  message_id: Type.Integer(),
  from: Type.Optional(User),
});

const Message = Type.Object({
  message_id: Type.Integer(),
  message_thread_id: Type.Optional(Type.Integer()),
  is_topic_message: Type.Optional(Type.Boolean()),
  from: Type.Optional(User),
  date: Type.Integer({ minimum: 0 }),
  chat: Chat,
  text: Type.Optional(Type.String()),
  entities: Type.Optional(Type.Array(Entity)),
  reply_to_message: Type.Optional(RepliedMessage),
});

export const TelegramUpdate = Type.Object({
  update_id: Type.Integer({ minimum: 0 }),
  message: Type.Optional(Message),
});
export type TelegramUpdate = Static<typeof TelegramUpdate>;
type TelegramMessage = Static<typeof Message>;

/** Why an update produced no message — each case ignored on purpose. */
export type TelegramIgnoreReason =
  | "edited" // edited_message: answering edits would reply twice to one question
  | "unsupported_update" // channel posts, callback queries, member updates, …
  | "non_text" // photos, stickers, service messages: nothing to answer as text
  | "own_message" // the bot's own message (Telegram does not send these; a forged or replayed one)
  | "bot" // another bot: bots talking to bots loop
  | "incomplete"; // no sender

export type TelegramNormalized =
  | { kind: "message"; message: KonstructMessage }
  | { kind: "ignored"; reason: TelegramIgnoreReason; updateType: string };

const updateValidator = compile(TelegramUpdate);

/** Options for {@link normalizeTelegramUpdate}. */
export interface TelegramNormalizeOptions {
  connectionId: string;
  /** The connection's bot id (its external id). */
  botId: string;
  /** The bot's username without `@`, to recognise mentions; needed only when {@link needsBotUsername}. */
  botUsername: string | null;
  newId?: () => string;
}

/** The kind of update, for logs and the ignore reason: the first field besides `update_id`. */
export function updateTypeOf(body: unknown): string {
  if (body === null || typeof body !== "object") return "unknown";
  return (
    Object.keys(body)
      .find((key) => key !== "update_id")
      ?.slice(0, 64) ?? "unknown"
  );
}

/** True when recognising a mention of the bot in this update needs the bot's username (a group message naming someone). */
export function needsBotUsername(body: unknown): boolean {
  const message = (body as { message?: { chat?: { type?: unknown }; entities?: unknown } } | null)?.message;
  if (!message || message.chat?.type === "private" || !Array.isArray(message.entities)) return false;
  return message.entities.some((e: { type?: unknown }) => e?.type === "mention" || e?.type === "bot_command");
}

/** Normalizes a verified Update; throws MessageValidationError on a malformed one. */
export function normalizeTelegramUpdate(body: unknown, options: TelegramNormalizeOptions): TelegramNormalized {
  const updateType = updateTypeOf(body);
  if (updateType === "edited_message" || updateType === "edited_business_message") {
    return { kind: "ignored", reason: "edited", updateType };
  }
  if (!updateValidator.check(body)) throw new MessageValidationError(updateValidator.issues(body, 5));
  const { message } = body;
  if (!message) return { kind: "ignored", reason: "unsupported_update", updateType };
  if (message.text === undefined) return { kind: "ignored", reason: "non_text", updateType };
  const from = message.from;
  if (!from) return { kind: "ignored", reason: "incomplete", updateType };
  if (String(from.id) === options.botId) return { kind: "ignored", reason: "own_message", updateType };
  if (from.is_bot) return { kind: "ignored", reason: "bot", updateType };

  const chatId = String(message.chat.id);
  const isDirect = message.chat.type === "private";
  const { mentions, mentionsBot: named } = mentionsIn(message, options);
  const repliesToBot = topicRoot(message) ? false : String(message.reply_to_message?.from?.id) === options.botId;
  const mentionsBot = named || repliesToBot;

  let threadId: string;
  if (isDirect) threadId = chatId;
  else if (!mentionsBot) threadId = `${chatId}:${message.message_id}`;
  else if (message.is_topic_message && message.message_thread_id !== undefined)
    threadId = `${chatId}:topic:${message.message_thread_id}`;
  else threadId = chatId;

  const konstruct: KonstructMessage = {
    id: (options.newId ?? newId)(),
    tenantId: null,
    channelType: "telegram",
    channel: {
      connectionId: options.connectionId,
      workspaceId: options.botId,
      channelId: chatId,
      messageId: String(message.message_id),
      isDirect,
      botUserId: options.botId,
    },
    sender: {
      id: String(from.id),
      displayName: displayName(from),
      isBot: from.is_bot,
      botId: null,
    },
    content: { text: message.text, mentions, mentionsBot, attachments: [] },
    threadId,
    timestamp: new Date(message.date * 1000).toISOString(),
    deliveryId: String(body.update_id),
  };
  return { kind: "message", message: konstruct };
}

/**
 * In a forum, a message in a topic that is not an explicit reply still carries the topic's
 * first message as `reply_to_message`; that is no reply to anyone.
 */
function topicRoot(message: TelegramMessage): boolean {
  return message.is_topic_message === true && message.reply_to_message?.message_id === message.message_thread_id;
}

/** Who the text names (ids for `text_mention`, the bot's id for its own @username, usernames otherwise), and whether the bot is among them. */
function mentionsIn(message: TelegramMessage, options: TelegramNormalizeOptions): { mentions: string[]; mentionsBot: boolean } {
  const text = message.text ?? "";
  const username = options.botUsername?.toLowerCase() ?? null;
  const mentions: string[] = [];
  let mentionsBot = false;
  for (const entity of message.entities ?? []) {
    // Offsets and lengths count UTF-16 code units, as JavaScript strings do.
    const slice = text.slice(entity.offset, entity.offset + entity.length);
    if (entity.type === "mention") {
      const name = slice.replace(/^@/, "").toLowerCase();
      if (username !== null && name === username) {
        mentionsBot = true;
        mentions.push(options.botId);
      } else if (name) mentions.push(name);
    } else if (entity.type === "text_mention" && entity.user) {
      const id = String(entity.user.id);
      if (id === options.botId) mentionsBot = true;
      mentions.push(id);
    } else if (entity.type === "bot_command") {
      const at = slice.indexOf("@");
      if (at >= 0 && username !== null && slice.slice(at + 1).toLowerCase() === username) mentionsBot = true;
    }
  }
  return { mentions: mentions.slice(0, 100).filter((m) => m.length <= 256), mentionsBot };
}

function displayName(user: Static<typeof User>): string | null {
  const name = [user.first_name, user.last_name].filter(Boolean).join(" ");
  return (name || user.username || null)?.slice(0, 256) ?? null;
}
