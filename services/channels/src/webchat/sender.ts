import { isUuid } from "@konstruct/core";
import type { Redis } from "ioredis";
import type { ReplySender } from "../reply-protocol.ts";
import type { WebchatConnection, WebchatConnectionStore } from "./connections.ts";
import { appendOnce, type ConversationLimits } from "./conversation.ts";

/** What the web chat sender needs. */
export interface WebchatSenderOptions {
  connections: WebchatConnectionStore;
  redis: Redis;
  limits: ConversationLimits;
  now?: () => number;
}

/**
 * "Posting" a web chat reply is appending it to the visitor's conversation stream in Redis:
 * whichever replica holds the visitor's event stream then sends it, and a visitor who is
 * offline sees it on their next connect. The append is itself once per reply id (a script that
 * remembers the ids it appended), so the reply protocol needs no ledger here.
 */
export function createWebchatSender(options: WebchatSenderOptions): ReplySender<WebchatConnection> {
  const { connections, redis, limits } = options;
  const now = options.now ?? Date.now;
  return {
    channel: "webchat",
    idempotent: true,
    async target(reply) {
      const visitorId = reply.target.channelId;
      if (!isUuid(visitorId)) {
        return {
          ok: false,
          reason: `web chat reply ${reply.replyId} targets ${JSON.stringify(reply.target.channelId.slice(0, 40))}, which is not a visitor id`,
        };
      }
      const connection = await connections.get(reply.connectionId);
      if (!connection || connection.tenantId !== reply.tenantId || connection.externalId !== reply.target.workspaceId) {
        return {
          ok: false,
          reason: `web chat connection ${reply.connectionId} not found for tenant ${reply.tenantId} and workspace ${reply.target.workspaceId}`,
        };
      }
      return { ok: true, connection };
    },
    async post(reply, connection) {
      const visitorId = reply.target.channelId;
      // The gateway made the message id `<visitorId>.<clientMessageId>`; the page knows the latter.
      const prefix = `${visitorId}.`;
      const inReplyTo = reply.target.inReplyToMessageId.startsWith(prefix)
        ? reply.target.inReplyToMessageId.slice(prefix.length)
        : reply.target.inReplyToMessageId;
      const ref = { tenantId: connection.tenantId, connectionId: connection.connectionId, visitorId };
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
        return { kind: "posted", messageId: id, repeat: id === null };
      } catch (error) {
        // The script either ran whole or not at all; a retry appends at most once either way.
        return { kind: "refused", permanent: false, detail: `Redis: ${error instanceof Error ? error.message : String(error)}` };
      }
    },
  };
}
