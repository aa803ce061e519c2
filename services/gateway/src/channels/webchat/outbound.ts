import { ack, poison, retry, retryDelay } from "@konstruct/core";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { GatewayMetrics } from "../../metrics.ts";
import type { OutboundHandler } from "../channel.ts";
import type { WebchatConnectionStore } from "./connections.ts";
import { appendOnce, type ConversationLimits } from "./conversation.ts";

/** What the web chat outbound handler needs. */
export interface WebchatOutboundOptions {
  connections: WebchatConnectionStore;
  redis: Redis;
  limits: ConversationLimits;
  metrics: GatewayMetrics;
  log: Logger;
  now?: () => number;
}

const VISITOR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * "Posting" a web chat reply is appending it to the visitor's conversation stream in Redis:
 * whichever replica holds the visitor's event stream then sends it, and a visitor who is
 * offline sees it on their next connect. Appending is once per reply id, so a redelivered
 * reply never shows twice. A reply whose connection, tenant and workspace do not agree is
 * poison: it must never land in another tenant's conversation.
 */
export function createWebchatOutboundHandler(options: WebchatOutboundOptions): OutboundHandler {
  const { connections, redis, limits, metrics, log } = options;
  const now = options.now ?? Date.now;
  const count = (result: string) => metrics.posts.inc({ channel: "webchat", result });

  return async (reply, delivery) => {
    const visitorId = reply.target.channelId;
    if (!VISITOR.test(visitorId)) {
      count("poison");
      return poison(
        `web chat reply ${reply.replyId} targets ${JSON.stringify(visitorId.slice(0, 40))}, which is not a visitor id`,
      );
    }

    const connection = await connections.get(reply.connectionId);
    if (!connection || connection.tenantId !== reply.tenantId || connection.externalId !== reply.target.workspaceId) {
      count("poison");
      return poison(
        `web chat connection ${reply.connectionId} not found for tenant ${reply.tenantId} and workspace ${reply.target.workspaceId}`,
      );
    }

    // The gateway made the message id `<visitorId>.<clientMessageId>`; the page knows the latter.
    const prefix = `${visitorId}.`;
    const inReplyTo = reply.target.inReplyToMessageId.startsWith(prefix)
      ? reply.target.inReplyToMessageId.slice(prefix.length)
      : reply.target.inReplyToMessageId;
    const ref = { tenantId: connection.tenantId, connectionId: connection.connectionId, visitorId };
    const started = performance.now();
    try {
      const id = await appendOnce(
        redis,
        ref,
        {
          kind: "agent",
          replyId: reply.replyId,
          inReplyTo,
          text: reply.text,
          at: now(),
          replyKind: reply.kind,
          agentName: reply.agent?.displayName ?? null,
        },
        limits,
      );
      metrics.postSeconds.observe({ channel: "webchat" }, (performance.now() - started) / 1000);
      count(id === null ? "already_posted" : "posted");
      return ack;
    } catch (error) {
      count("retry");
      log.warn({ err: error, replyId: reply.replyId }, "could not append a web chat reply; will retry");
      return retry("Redis unavailable for the web chat reply", retryDelay(delivery.deliveryCount));
    }
  };
}
