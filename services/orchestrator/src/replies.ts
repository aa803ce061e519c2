import type { OutboundReply, WorkItem } from "@konstruct/core";
import type { LlmError } from "./llm-error.ts";

/** Platform texts users see instead of a model's answer. They never pretend to come from a model. */
export const REPLY_TEXTS = {
  noModelReachable:
    "I can't answer right now: no language model is reachable at the moment. This is an automatic message from the platform — please try again in a few minutes.",
  modelFailed:
    "Sorry, I couldn't produce an answer just now because the language model failed. This is an automatic message from the platform — please try again shortly.",
  agentMissing:
    "Sorry, the assistant this conversation was routed to is no longer configured in this workspace. Please ask an administrator to check the agents.",
  tokenBudget:
    "This workspace has used its AI budget for today, so I can't answer until tomorrow (UTC). An administrator can raise the daily token limit.",
  busy: "I'm handling too many conversations for this workspace right now. Please ask again in a minute.",
} as const;

/** The apology after every model and fallback failed; honest about nothing being reachable. */
export function apologyText(errors: readonly LlmError[]): string {
  const allUnreachable = errors.length > 0 && errors.every((e) => e.failure === "unreachable");
  return allUnreachable ? REPLY_TEXTS.noModelReachable : REPLY_TEXTS.modelFailed;
}

/** A run's reply id: the msgID its publish is de-duplicated by, and its history row's key. */
export function replyIdOf(item: WorkItem): string {
  return `reply:${item.deliveryKey}`;
}

/** Which reply a work item gets and where it goes: what its OutboundReply and its deltas share. */
export function replyAddress(
  item: WorkItem,
): Pick<OutboundReply, "replyId" | "tenantId" | "channelType" | "connectionId" | "target"> {
  const { message } = item;
  return {
    replyId: replyIdOf(item),
    tenantId: item.tenantId,
    channelType: message.channelType,
    // The router fills the connection in before publishing work; the schema allows null only upstream of it.
    connectionId: message.channel.connectionId as string,
    target: {
      workspaceId: message.channel.workspaceId,
      channelId: message.channel.channelId,
      threadId: message.threadId,
      inReplyToMessageId: message.channel.messageId,
    },
  };
}

/** The OutboundReply for a work item; its id `reply:<deliveryKey>` is also its NATS msgID. */
export function outboundReply(
  item: WorkItem,
  kind: OutboundReply["kind"],
  text: string,
  agent: OutboundReply["agent"],
): OutboundReply {
  return {
    ...replyAddress(item),
    text: text.length > 40_000 ? `${text.slice(0, 39_990)}…` : text,
    kind,
    agent,
  };
}
