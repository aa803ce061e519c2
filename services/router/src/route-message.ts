import { questionText } from "@konstruct/channels";
import {
  ack,
  type ChannelActivity,
  type Disposition,
  decodeMessage,
  deliveryKey,
  type KonstructMessage,
  type Logger,
  MessageValidationError,
  type OutboundReply,
  outboundSubject,
  poison,
  retry,
  type WorkItem,
  workSubject,
} from "@konstruct/core";
import type { RouterAdmission } from "./admission.ts";
import { selectAgent } from "./agent-selection.ts";
import { isOwnMessage } from "./bot-filter.ts";
import { directEngagement } from "./engagement.ts";
import type { RouteDecision } from "./idempotency.ts";
import type { RouterMetrics } from "./metrics.ts";
import type { TenantProfile, TenantResolver } from "./tenant-resolver.ts";

/** Publishes JSON to JetStream with a msgID (server-side de-duplication). */
export type Publish = (subject: string, value: unknown, msgId: string) => Promise<void>;

/** What {@link createRouteHandler} needs. */
export interface RouteDeps {
  directory: TenantResolver;
  /** Engaged thread, claim, bot-loop budget, rate limit, decision and thread mark in one step (admission.ts). */
  admission: RouterAdmission;
  publish: Publish;
  metrics: RouterMetrics;
  log: Logger;
  /** Notes the connection's last accepted event for the portal (throttled, never waits). */
  activity?: ChannelActivity;
}

/** The polite notice a tenant's users see, once per window, when the tenant is over its rate limit. */
export const RATE_LIMIT_NOTICE =
  "I'm receiving more messages than this workspace's plan allows per minute, so I'm pausing briefly. Please ask again in a minute.";

/** One inbound delivery, as the consumer hands it over. */
export interface InboundDelivery {
  data: Uint8Array;
  deliveryCount: number;
}

/**
 * The router's handler: validate → resolve tenant → drop our own messages → admission
 * (engaged thread, idempotency claim, bot-loop budget, rate limit, decision, thread mark) →
 * publish → ack.
 *
 * Admission is one Redis script (admission.ts), the handler's only Redis round trip: the
 * stateful counters run only after the claim and their verdict is stored with it, so a
 * redelivery repeats the verdict instead of spending budget twice. The agent is chosen
 * beforehand (no state), and used only when the counters admit the message. Nothing is written
 * after the publish: a redelivery publishes the stored decision again under the same msgID, and
 * idempotency.ts says what keeps that to one reply.
 */
export function createRouteHandler(deps: RouteDeps): (delivery: InboundDelivery) => Promise<Disposition> {
  const { directory, admission, publish, metrics } = deps;

  const agentFor = (message: KonstructMessage, profile: TenantProfile): RouteDecision => {
    const text = questionText(message.channelType, message.content.text, message.channel.botUserId);
    const choice = selectAgent(profile.agents, text, profile.connection.name);
    return choice ? { kind: "work", agentId: choice.agent.id } : { kind: "no-agent" };
  };

  const execute = async (message: KonstructMessage, profile: TenantProfile, key: string, decision: RouteDecision) => {
    const routed: KonstructMessage = {
      ...message,
      tenantId: profile.tenantId,
      channel: { ...message.channel, connectionId: profile.connection.id },
    };
    if (decision.kind === "work") {
      const item: WorkItem = { message: routed, tenantId: profile.tenantId, agentId: decision.agentId, deliveryKey: key };
      await publish(workSubject(profile.tenantId), item, `work:${key}`);
    } else if (decision.kind === "notice") {
      await publish(outboundSubject(message.channelType), noticeReply(routed, profile, key), `reply:${key}`);
    }
  };

  const route = async (delivery: InboundDelivery, count: (result: string) => void): Promise<Disposition> => {
    let message: KonstructMessage;
    try {
      message = decodeMessage(delivery.data);
    } catch (error) {
      if (error instanceof MessageValidationError) {
        count("invalid");
        return poison(error.message);
      }
      throw error;
    }
    const key = deliveryKey(message);
    const profile = await directory.resolve(message);
    if (!profile) {
      // Not poison: the payload is fine, the workspace is just not (or no longer) connected.
      deps.log.info(
        {
          channelType: message.channelType,
          workspaceId: message.channel.workspaceId,
          deliveryKey: key,
          reason: "unknown-workspace",
        },
        "message dropped: unknown workspace",
      );
      count("unknown-workspace");
      return ack;
    }
    // The context goes into each line rather than into a child logger: a pino child serialises
    // (and redacts) its bindings when created, even when routed work then logs nothing.
    const context = { tenantId: profile.tenantId, messageId: message.id, deliveryKey: key };
    if (isOwnMessage(message, profile.connection.botId)) {
      deps.log.debug({ ...context, reason: "own-message" }, "message dropped");
      count("own-message");
      return ack;
    }
    deps.activity?.event(profile.tenantId, profile.connection.id);
    // A DM or a mention engages without state; anything else only in a thread the bot is in.
    const direct = directEngagement(message);
    const admitted = await admission.admit({
      tenantId: profile.tenantId,
      message,
      deliveryKey: key,
      needsEngagedThread: direct === null,
      messagesPerMinute: profile.messagesPerMinute,
      decision: agentFor(message, profile),
    });
    if (admitted.kind === "not-engaged") {
      // Not a DM, no mention of the bot, not a thread it takes part in: someone else's conversation.
      deps.log.debug({ ...context, reason: "not-engaged" }, "message dropped");
      count("not-engaged");
      return ack;
    }
    const engagement = direct ?? "thread";
    if (admitted.kind === "done" || admitted.kind === "duplicate-post") {
      deps.log.debug({ ...context, reason: "duplicate", claim: admitted.kind }, "message dropped");
      count("duplicate");
      return ack;
    }
    if (admitted.kind === "busy") {
      deps.log.debug({ ...context, reason: "busy" }, "message deferred: another handler holds this delivery");
      count("busy");
      return retry("another handler holds this delivery", 2_000);
    }
    const { decision } = admitted;
    await execute(message, profile, key, decision);
    // Work routed to an agent logs at debug: a line per message is a measurable share of the
    // router's CPU under load, and the orchestrator's "reply published" records each of those runs.
    // Every other decision (limited, bot loop, no agent) has no later line, so it stays at info.
    const level = decision.kind === "work" ? "debug" : "info";
    deps.log[level]({ ...context, engagement, decision, redelivered: admitted.kind === "decided" }, "message routed");
    // A stored decision published again is counted apart, so duplicates do not inflate "routed".
    if (admitted.kind === "decided") count("redelivered");
    else count(decision.kind === "work" ? "routed" : decision.kind);
    return ack;
  };

  return async (delivery) => {
    const end = metrics.handleSeconds.startTimer();
    try {
      return await route(delivery, (result) => metrics.messages.inc({ result }));
    } finally {
      end();
    }
  };
}

function noticeReply(message: KonstructMessage, profile: TenantProfile, key: string): OutboundReply {
  return {
    replyId: `reply:${key}`,
    tenantId: profile.tenantId,
    channelType: message.channelType,
    connectionId: profile.connection.id,
    target: {
      workspaceId: message.channel.workspaceId,
      channelId: message.channel.channelId,
      threadId: message.threadId,
      inReplyToMessageId: message.channel.messageId,
    },
    text: RATE_LIMIT_NOTICE,
    kind: "notice",
    agent: null,
  };
}
