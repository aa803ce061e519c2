import type { OutboundReply } from "@konstruct/core";
import {
  type FetchFunction,
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRequestError,
  WebClient,
} from "@slack/web-api";
import { createKeepAliveFetch } from "../keep-alive-fetch.ts";
import type { ReplySender } from "../reply-protocol.ts";
import type { SlackConnection, SlackConnectionStore } from "./connections.ts";
import { createChatPostMessage } from "./post-message.ts";

/** The `metadata.event_type` every Konstruct reply carries, so a post can be found again after a crash. */
export const REPLY_METADATA_EVENT_TYPE = "konstruct_reply";

/** What the Slack sender needs. */
export interface SlackSenderOptions {
  connections: SlackConnectionStore;
  /** Slack Web API base URL (`SLACK_API_URL`). */
  slackApiUrl: string;
  /** Timeout of one Slack call. */
  callTimeoutMs?: number;
  /**
   * The HTTP client under the WebClients that look for interrupted posts; by default one
   * keep-alive agent per sender (keep-alive-fetch.ts), which the posts share.
   */
  fetch?: FetchFunction;
}

/** A Slack error as the reply protocol sees it. */
function describeSlackError(error: unknown): string {
  if (error instanceof WebAPIPlatformError) return error.data.error;
  if (error instanceof WebAPIHTTPError) return `HTTP ${error.statusCode}`;
  if (error instanceof WebAPIRequestError) return error.original.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Slack's side of the reply protocol: `chat.postMessage` in the thread, carrying the reply id in
 * the message metadata so that `conversations.replies` can find a post whose response was lost.
 * Retries belong to JetStream (nak with delay), never to an in-process loop holding a slot.
 * The post, once per reply, is a direct keep-alive request (post-message.ts); the rare look for
 * an interrupted post goes through `@slack/web-api`, whose cost does not matter there.
 */
export function createSlackSender(options: SlackSenderOptions): ReplySender<SlackConnection> {
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const keepAlive = createKeepAliveFetch();
  const fetch = options.fetch ?? keepAlive.fetch;
  const postMessage = createChatPostMessage({
    slackApiUrl: options.slackApiUrl,
    dispatcher: keepAlive.dispatcher,
    timeoutMs: callTimeoutMs,
  });
  const clients = new Map<string, WebClient>();
  const clientFor = (token: string): WebClient => {
    let client = clients.get(token);
    if (!client) {
      client = new WebClient(token, {
        slackApiUrl: options.slackApiUrl,
        rejectRateLimitedCalls: true,
        retryConfig: { retries: 0 },
        timeout: callTimeoutMs,
        logLevel: LogLevel.ERROR,
        fetch,
      });
      if (clients.size >= 1_000) clients.delete(clients.keys().next().value as string);
      clients.set(token, client);
    }
    return client;
  };

  return {
    channel: "slack",
    async target(reply) {
      const connection = await options.connections.get(reply.connectionId);
      if (!connection || connection.tenantId !== reply.tenantId) {
        return { ok: false, reason: `Slack connection ${reply.connectionId} not found for tenant ${reply.tenantId}` };
      }
      return { ok: true, connection };
    },
    post(reply, connection) {
      return postMessage(connection.botToken, {
        channel: reply.target.channelId,
        thread_ts: reply.target.threadId,
        text: reply.text,
        metadata: { event_type: REPLY_METADATA_EVENT_TYPE, event_payload: { reply_id: reply.replyId } },
      });
    },
    async find(reply, connection, sinceMs) {
      try {
        const ts = await findPostedReply(clientFor(connection.botToken), reply, sinceMs);
        return ts === null ? { kind: "absent" } : { kind: "found", messageId: ts };
      } catch (error) {
        // Without a way to look (a permission, a revoked token), re-posting could duplicate.
        if (error instanceof WebAPIPlatformError) return { kind: "cannot_look", detail: error.data.error };
        return { kind: "failed", detail: describeSlackError(error) };
      }
    },
  };
}

/** Looks for a message with this reply's metadata in the target thread, posted since `sinceMs`; returns its ts. */
async function findPostedReply(client: WebClient, reply: OutboundReply, sinceMs: number): Promise<string | null> {
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const result = await client.conversations.replies({
      channel: reply.target.channelId,
      ts: reply.target.threadId,
      include_all_metadata: true,
      // Clocks differ between us and Slack; a minute of slack keeps the search honest.
      oldest: String(Math.floor(sinceMs / 1000) - 60),
      limit: 200,
      ...(cursor ? { cursor } : {}),
    });
    for (const message of result.messages ?? []) {
      const metadata = message.metadata as { event_type?: string; event_payload?: { reply_id?: unknown } } | undefined;
      if (metadata?.event_type === REPLY_METADATA_EVENT_TYPE && metadata.event_payload?.reply_id === reply.replyId) {
        return message.ts ?? "";
      }
    }
    cursor = result.response_metadata?.next_cursor || undefined;
    if (!cursor) return null;
  }
  return null;
}
