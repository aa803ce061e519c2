import { MessageValidationError } from "@konstruct/core/errors";
import { newId } from "@konstruct/core/ids";
import type { Attachment, KonstructMessage } from "@konstruct/core/message";
import { compile } from "@konstruct/core/schema";
import { type Static, Type } from "@sinclair/typebox";

/**
 * Slack Events API → KonstructMessage.
 *
 * Slack sends one envelope per event (`type: "event_callback"`), with the bot user the app is
 * installed as in `authorizations[0].user_id`. The shapes below accept what Slack documents and
 * ignore unknown fields, since Slack adds fields without notice.
 */
const SlackFile = Type.Object({
  id: Type.String(),
  name: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  mimetype: Type.Optional(Type.String()),
  size: Type.Optional(Type.Number()),
  url_private: Type.Optional(Type.String()),
});

const SlackInnerEvent = Type.Object({
  type: Type.String({ minLength: 1 }),
  subtype: Type.Optional(Type.String()),
  hidden: Type.Optional(Type.Boolean()),
  user: Type.Optional(Type.String()),
  bot_id: Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  bot_profile: Type.Optional(Type.Object({ name: Type.Optional(Type.String()) })),
  user_profile: Type.Optional(
    Type.Object({ display_name: Type.Optional(Type.String()), real_name: Type.Optional(Type.String()) }),
  ),
  text: Type.Optional(Type.String()),
  ts: Type.Optional(Type.String()),
  thread_ts: Type.Optional(Type.String()),
  channel: Type.Optional(Type.String()),
  channel_type: Type.Optional(Type.String()),
  team: Type.Optional(Type.String()),
  files: Type.Optional(Type.Array(SlackFile)),
});

export const SlackEventEnvelope = Type.Object({
  type: Type.Literal("event_callback"),
  team_id: Type.String({ minLength: 1 }),
  api_app_id: Type.Optional(Type.String()),
  event_id: Type.String({ minLength: 1 }),
  event_time: Type.Optional(Type.Number()),
  authorizations: Type.Optional(
    Type.Array(Type.Object({ user_id: Type.Optional(Type.String()), is_bot: Type.Optional(Type.Boolean()) })),
  ),
  event: SlackInnerEvent,
});
export type SlackEventEnvelope = Static<typeof SlackEventEnvelope>;
type SlackInnerEvent = Static<typeof SlackInnerEvent>;

/** Why an event produced no message — each case ignored on purpose. */
export type SlackIgnoreReason =
  | "edited" // message_changed: answering edits would reply twice to one question
  | "deleted" // message_deleted: nothing to answer
  | "hidden" // other hidden housekeeping events
  | "unsupported_event" // event types Konstruct does not subscribe to act on
  | "unsupported_subtype" // channel_join, channel_topic, …
  | "incomplete"; // no channel, ts or sender

export type SlackNormalized =
  | { kind: "message"; message: KonstructMessage }
  | { kind: "ignored"; reason: SlackIgnoreReason; eventType: string };

const envelopeValidator = compile(SlackEventEnvelope);

// Subtypes that carry a person's (or a bot's) message worth routing.
const MESSAGE_SUBTYPES = new Set([undefined, "bot_message", "file_share", "thread_broadcast", "me_message"]);
const MENTION = /<@([A-Z0-9]+)(?:\|[^>]*)?>/g;

/** Options for {@link normalizeSlackEvent}. */
export interface NormalizeOptions {
  /** The channel connection of the per-tenant webhook route, or null for the shared app. */
  connectionId: string | null;
  /** Id generator, for tests. */
  newId?: () => string;
}

/** Normalizes a verified Slack `event_callback` envelope; throws MessageValidationError on a malformed one. */
export function normalizeSlackEvent(body: unknown, options: NormalizeOptions): SlackNormalized {
  if (!envelopeValidator.check(body)) {
    throw new MessageValidationError(envelopeValidator.issues(body, 5));
  }
  const { event } = body;
  if (event.type !== "message" && event.type !== "app_mention") {
    return { kind: "ignored", reason: "unsupported_event", eventType: event.type };
  }
  if (event.subtype === "message_changed") return ignored("edited", event);
  if (event.subtype === "message_deleted") return ignored("deleted", event);
  if (!MESSAGE_SUBTYPES.has(event.subtype)) return ignored("unsupported_subtype", event);
  if (event.hidden) return ignored("hidden", event);

  const senderId = event.user ?? event.bot_id;
  if (!event.channel || !event.ts || !senderId) return ignored("incomplete", event);

  const text = event.text ?? "";
  const botUserId = body.authorizations?.[0]?.user_id ?? null;
  const mentions = [...text.matchAll(MENTION)].map((m) => m[1] as string);
  const isBot = event.bot_id !== undefined || event.subtype === "bot_message";
  const message: KonstructMessage = {
    id: (options.newId ?? newId)(),
    tenantId: null,
    channelType: "slack",
    channel: {
      connectionId: options.connectionId,
      // The envelope's team is the workspace that signed it; the inner event's `team` can be
      // another organisation's in a shared (Slack Connect) channel, so it never routes.
      workspaceId: body.team_id,
      channelId: event.channel,
      messageId: event.ts,
      isDirect: event.channel_type === "im",
      botUserId,
    },
    sender: {
      id: senderId,
      displayName: displayName(event),
      isBot,
      botId: event.bot_id ?? null,
    },
    content: {
      text,
      mentions,
      // Slack's own signal that the bot was mentioned; the id check covers the `message` twin.
      mentionsBot: event.type === "app_mention" || (botUserId !== null && mentions.includes(botUserId)),
      attachments: (event.files ?? []).map(toAttachment),
    },
    threadId: event.thread_ts ?? event.ts,
    timestamp: slackTsToIso(event.ts),
    deliveryId: body.event_id,
  };
  return { kind: "message", message };
}

function ignored(reason: SlackIgnoreReason, event: SlackInnerEvent): SlackNormalized {
  return { kind: "ignored", reason, eventType: event.subtype ? `${event.type}.${event.subtype}` : event.type };
}

function displayName(event: SlackInnerEvent): string | null {
  return event.user_profile?.display_name || event.user_profile?.real_name || event.bot_profile?.name || event.username || null;
}

function toAttachment(file: Static<typeof SlackFile>): Attachment {
  return {
    id: file.id,
    name: file.name ?? file.title ?? file.id,
    mimeType: file.mimetype ?? null,
    size: file.size ?? null,
    url: file.url_private ?? null,
  };
}

/** Slack's `ts` is seconds with microseconds ("1515449522.000016"); it doubles as the message id. */
export function slackTsToIso(ts: string): string {
  const seconds = Number(ts);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new MessageValidationError([`/event/ts: not a Slack timestamp: ${ts}`]);
  return new Date(Math.floor(seconds * 1000)).toISOString();
}

/** Removes the bot's own `<@BOT>` mention from the text, so the model sees the question only. */
export function stripBotMention(text: string, botUserId: string | null): string {
  if (!botUserId) return text.trim();
  return text
    .replaceAll(new RegExp(`<@${botUserId}(?:\\|[^>]*)?>`, "g"), "")
    .replace(/\s+/g, " ")
    .trim();
}
