import { type Static, Type } from "@sinclair/typebox";
import { MessageValidationError } from "./errors.ts";
import { UUID_PATTERN } from "./ids.ts";
import { compile } from "./schema.ts";

const Uuid = Type.String({ pattern: UUID_PATTERN });
const Id = Type.String({ minLength: 1, maxLength: 256 });

/**
 * The shape of a channel type name. Which names exist is the channel list's business
 * (`@konstruct/channels`), from which the CRD's enum derives; the message model only insists on
 * a name that is safe as a subject token and a key part.
 */
export const CHANNEL_TYPE_PATTERN = "^[a-z][a-z0-9]{0,31}$";
export const ChannelType = Type.String({ pattern: CHANNEL_TYPE_PATTERN });
export type ChannelType = Static<typeof ChannelType>;

export const Attachment = Type.Object({
  id: Id,
  name: Type.String({ maxLength: 1024 }),
  mimeType: Type.Union([Type.String({ maxLength: 255 }), Type.Null()]),
  size: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  url: Type.Union([Type.String({ maxLength: 4096 }), Type.Null()]),
});
export type Attachment = Static<typeof Attachment>;

/**
 * The one message model, validated at every boundary (gateway → router → orchestrator).
 * `tenantId` is null until the router resolves it from the channel connection.
 */
export const KonstructMessage = Type.Object(
  {
    id: Uuid,
    tenantId: Type.Union([Uuid, Type.Null()]),
    channelType: ChannelType,
    channel: Type.Object({
      /** The channel connection the message arrived through, when the route names one. */
      connectionId: Type.Union([Uuid, Type.Null()]),
      /** Slack team id, or the web chat channel's external id. */
      workspaceId: Id,
      /** Slack channel id, or the web chat visitor's conversation id. */
      channelId: Id,
      /** The channel's own id of this message (Slack `ts`), for replies and de-duplication. */
      messageId: Id,
      /** A direct message to the bot (Slack `im`, every web chat message). */
      isDirect: Type.Boolean(),
      /** The bot user the channel delivered to (Slack `authorizations[0].user_id`). */
      botUserId: Type.Union([Id, Type.Null()]),
    }),
    sender: Type.Object({
      id: Id,
      displayName: Type.Union([Type.String({ maxLength: 256 }), Type.Null()]),
      isBot: Type.Boolean(),
      botId: Type.Union([Id, Type.Null()]),
    }),
    content: Type.Object({
      text: Type.String({ maxLength: 40_000 }),
      /** User ids mentioned in the text (Slack `<@U…>`), in order of appearance. */
      mentions: Type.Array(Id, { maxItems: 100 }),
      /**
       * The channel said the bot was addressed (Slack's `app_mention`, or the bot's own id among
       * the mentions). Optional so that messages of an older gateway still validate.
       */
      mentionsBot: Type.Optional(Type.Boolean()),
      attachments: Type.Array(Attachment, { maxItems: 100 }),
    }),
    /** The conversation thread: Slack's `thread_ts`, else the message's own ts (a new thread). */
    threadId: Id,
    timestamp: Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$" }),
    /** The channel's own delivery id (Slack `event_id`), used for de-duplication. */
    deliveryId: Id,
  },
  { additionalProperties: false },
);
export type KonstructMessage = Static<typeof KonstructMessage>;

const validator = compile(KonstructMessage);

/** Validates an untrusted value as a KonstructMessage, or throws MessageValidationError listing the issues. */
export function parseMessage(value: unknown): KonstructMessage {
  if (validator.check(value)) return value;
  throw new MessageValidationError(validator.issues(value, 10));
}

/** Decodes a message from bytes (a NATS payload); any JSON or schema error is a MessageValidationError. */
export function decodeMessage(data: Uint8Array): KonstructMessage {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data).toString("utf8"));
  } catch (cause) {
    throw new MessageValidationError(["payload is not JSON"], { cause });
  }
  return parseMessage(value);
}
