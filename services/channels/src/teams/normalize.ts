import { createHash } from "node:crypto";
import { compile, type KonstructMessage, MessageValidationError, newId } from "@konstruct/core";
import { type Static, Type } from "@sinclair/typebox";

/**
 * Bot Framework activity (as Teams sends it) → KonstructMessage.
 *
 * Teams posts one activity per request: messages, and housekeeping (`conversationUpdate`,
 * `messageReaction`, `invoke`, `typing`, …), which are ignored. Conversations are
 * - `personal`: a one-to-one chat with the bot; thread = the conversation;
 * - `channel`: a team channel. The conversation id of a reply in a thread carries the thread's
 *   root (`…;messageid=<root>`), so thread = the conversation id;
 * - `groupChat`: a group chat, one conversation.
 * In channels and group chats the bot takes part when it is @mentioned (an entity of type
 * `mention` naming the recipient); other messages get a thread of their own that the bot never
 * joins, so that chatter after one answer does not engage it. The bot's own mention
 * (`<at>Name</at>`) is taken out of the text. Shapes accept what the Bot Framework documents and
 * ignore unknown fields.
 */
const Account = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 256 }),
  name: Type.Optional(Type.String()),
  role: Type.Optional(Type.String()),
});

const Entity = Type.Object({
  type: Type.String(),
  text: Type.Optional(Type.String()),
  mentioned: Type.Optional(Account),
});

export const TeamsActivity = Type.Object({
  type: Type.String({ minLength: 1 }),
  id: Type.String({ minLength: 1, maxLength: 200 }),
  timestamp: Type.Optional(Type.String()),
  serviceUrl: Type.String({ minLength: 1, maxLength: 2048 }),
  channelId: Type.String({ minLength: 1 }),
  from: Account,
  conversation: Type.Object({
    id: Type.String({ minLength: 1, maxLength: 256 }),
    conversationType: Type.Optional(Type.String()),
    isGroup: Type.Optional(Type.Boolean()),
    tenantId: Type.Optional(Type.String()),
  }),
  recipient: Account,
  text: Type.Optional(Type.String()),
  entities: Type.Optional(Type.Array(Entity)),
});
export type TeamsActivity = Static<typeof TeamsActivity>;

/** Why an activity produced no message — each case ignored on purpose. */
export type TeamsIgnoreReason =
  | "unsupported_activity" // conversationUpdate, typing, reactions, invokes
  | "non_text" // attachments or cards only
  | "own_message" // the bot's own message (a forged or echoed one)
  | "bot" // another bot: bots talking to bots loop
  | "other_recipient"; // addressed to a bot other than the connection's

export type TeamsNormalized =
  | { kind: "message"; message: KonstructMessage; activity: TeamsActivity }
  | { kind: "ignored"; reason: TeamsIgnoreReason; activityType: string };

const validator = compile(TeamsActivity);

/** Options for {@link normalizeTeamsActivity}. */
export interface TeamsNormalizeOptions {
  connectionId: string;
  /** The bot's app id (lower case); Teams addresses the bot as `28:<appId>`. */
  appId: string;
  newId?: () => string;
}

/** The activity's type, for logs and metrics, from an unverified shape. */
export function activityTypeOf(body: unknown): string {
  const type = (body as { type?: unknown } | null)?.type;
  return typeof type === "string" ? type.slice(0, 64) : "unknown";
}

/** Normalizes a verified activity; throws MessageValidationError on a malformed one. */
export function normalizeTeamsActivity(body: unknown, options: TeamsNormalizeOptions): TeamsNormalized {
  const activityType = activityTypeOf(body);
  if (activityType !== "message") return { kind: "ignored", reason: "unsupported_activity", activityType };
  if (!validator.check(body)) throw new MessageValidationError(validator.issues(body, 5));
  const activity = body;
  const botAccount = `28:${options.appId}`;
  if (activity.recipient.id.toLowerCase() !== botAccount) return { kind: "ignored", reason: "other_recipient", activityType };
  if (activity.from.id.toLowerCase() === botAccount) return { kind: "ignored", reason: "own_message", activityType };
  // Bots are `28:<app id>` in Teams; people are `29:…`.
  if (activity.from.role === "bot" || activity.from.id.startsWith("28:")) return { kind: "ignored", reason: "bot", activityType };
  const rawText = activity.text ?? "";
  if (!rawText.trim()) return { kind: "ignored", reason: "non_text", activityType };

  const conversation = activity.conversation;
  const isDirect = conversation.conversationType === "personal" || (!conversation.conversationType && !conversation.isGroup);
  const mentions: string[] = [];
  let mentionsBot = false;
  let text = rawText;
  for (const entity of activity.entities ?? []) {
    if (entity.type !== "mention" || !entity.mentioned) continue;
    if (entity.mentioned.id.toLowerCase() === botAccount) {
      mentionsBot = true;
      mentions.push(activity.recipient.id);
      if (entity.text) text = text.split(entity.text).join(" ");
    } else {
      mentions.push(entity.mentioned.id);
    }
  }
  text = text.replace(/\s+/g, " ").trim();

  const threadId = isDirect || mentionsBot ? conversation.id : `${conversation.id}|${activity.id}`;
  const message: KonstructMessage = {
    id: (options.newId ?? newId)(),
    tenantId: null,
    channelType: "teams",
    channel: {
      connectionId: options.connectionId,
      workspaceId: options.appId,
      channelId: conversation.id,
      messageId: activity.id,
      isDirect,
      botUserId: activity.recipient.id,
    },
    sender: {
      id: activity.from.id,
      displayName: activity.from.name?.slice(0, 256) || null,
      isBot: false,
      botId: null,
    },
    content: { text: text.slice(0, 40_000), mentions: mentions.slice(0, 100), mentionsBot, attachments: [] },
    threadId: threadId.slice(0, 256),
    timestamp: isoTimestamp(activity.timestamp),
    deliveryId: deliveryIdOf(activity),
  };
  return { kind: "message", message, activity };
}

/**
 * The delivery id of an activity: Teams' activity ids are unique within a conversation only
 * (they are often timestamps), so the conversation takes part, hashed to keep the id short. A
 * redelivered activity has the same id and conversation, so it gets the same delivery id.
 */
export function deliveryIdOf(activity: Pick<TeamsActivity, "id" | "conversation">): string {
  const conversation = createHash("sha256").update(activity.conversation.id).digest("base64url").slice(0, 22);
  return `${activity.id.slice(0, 200)}.${conversation}`;
}

function isoTimestamp(value: string | undefined): string {
  const ms = value === undefined ? Number.NaN : Date.parse(value);
  return new Date(Number.isFinite(ms) ? ms : Date.now()).toISOString();
}
