import { type Static, Type } from "@sinclair/typebox";
import { MessageValidationError } from "./errors.ts";
import { UUID_PATTERN } from "./ids.ts";
import { ChannelType, KonstructMessage } from "./message.ts";
import { compile } from "./schema.ts";

const Uuid = Type.String({ pattern: UUID_PATTERN });
const Id = Type.String({ minLength: 1, maxLength: 256 });

/**
 * Router → orchestrator, on `konstruct.work.<tenantId>`: one message to answer, with the agent
 * the router chose. Published with msgID `work:<deliveryKey>`.
 */
export const WorkItem = Type.Object(
  {
    message: KonstructMessage,
    tenantId: Uuid,
    agentId: Uuid,
    /** Stable across channel retries (`<channel>:<workspace>:<deliveryId>`): the idempotency key of every later step. */
    deliveryKey: Id,
  },
  { additionalProperties: false },
);
export type WorkItem = Static<typeof WorkItem>;

/**
 * Router or orchestrator → the channel's outbound worker, on `konstruct.outbound.<channel>`.
 * Published with msgID `reply:<deliveryKey>`, so one inbound event yields at most one reply.
 */
export const OutboundReply = Type.Object(
  {
    /** `reply:<deliveryKey>`; the outbound worker posts each id at most once. */
    replyId: Id,
    tenantId: Uuid,
    channelType: ChannelType,
    connectionId: Uuid,
    /** Where the reply goes: the channel and thread of the message it answers. */
    target: Type.Object({
      workspaceId: Id,
      channelId: Id,
      threadId: Id,
      inReplyToMessageId: Id,
    }),
    text: Type.String({ minLength: 1, maxLength: 40_000 }),
    /** `answer` from a model; `notice` (rate limit) and `apology` (model failure) from the platform. */
    kind: Type.Union([Type.Literal("answer"), Type.Literal("notice"), Type.Literal("apology")]),
    agent: Type.Union([Type.Object({ id: Uuid, displayName: Type.String() }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type OutboundReply = Static<typeof OutboundReply>;

/**
 * Orchestrator → gateway, on core NATS `konstruct.stream.<tenantId>.<channel>`: part of a reply
 * while the model writes it, for channels that show replies live (the web chat). Best effort and
 * never stored: the OutboundReply of the same `replyId` is the reply. `attempt` changes when the
 * text starts over (a retry, a fallback model, a redelivery after a crash); `offset` is the
 * length of the attempt's text before `text`, so a receiver can tell a gap from a continuation.
 */
export const ReplyDelta = Type.Object(
  {
    replyId: Id,
    tenantId: Uuid,
    channelType: ChannelType,
    connectionId: Uuid,
    target: OutboundReply.properties.target,
    attempt: Type.String({ minLength: 1, maxLength: 64 }),
    offset: Type.Integer({ minimum: 0, maximum: 40_000 }),
    text: Type.String({ minLength: 1, maxLength: 40_000 }),
  },
  { additionalProperties: false },
);
export type ReplyDelta = Static<typeof ReplyDelta>;

const workValidator = compile(WorkItem);
const replyValidator = compile(OutboundReply);
const deltaValidator = compile(ReplyDelta);

function decode<T>(data: Uint8Array, check: (v: unknown) => v is T, issues: (v: unknown) => string[]): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data).toString("utf8"));
  } catch (cause) {
    throw new MessageValidationError(["payload is not JSON"], { cause });
  }
  if (check(value)) return value;
  throw new MessageValidationError(issues(value));
}

/** Decodes and validates a work item from a NATS payload. */
export function decodeWorkItem(data: Uint8Array): WorkItem {
  return decode(data, workValidator.check, (v) => workValidator.issues(v, 10));
}

/** Decodes and validates an outbound reply from a NATS payload. */
export function decodeOutboundReply(data: Uint8Array): OutboundReply {
  return decode(data, replyValidator.check, (v) => replyValidator.issues(v, 10));
}

/** Decodes and validates a reply delta from a core NATS payload. */
export function decodeReplyDelta(data: Uint8Array): ReplyDelta {
  return decode(data, deltaValidator.check, (v) => deltaValidator.issues(v, 10));
}

/**
 * The idempotency key of one inbound delivery, stable across a channel's retries and across
 * both Slack routes (a workspace has one connection per channel type).
 */
export function deliveryKey(message: KonstructMessage): string {
  return `${message.channelType}:${message.channel.workspaceId}:${message.deliveryId}`;
}
