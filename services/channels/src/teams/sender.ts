import type { OutboundReply } from "@konstruct/core";
import type { ReplySender } from "../reply-protocol.ts";
import { cutReplyText } from "../reply-text.ts";
import type { TeamsConnection, TeamsConnectionStore } from "./connections.ts";
import type { TeamsServiceUrls } from "./service-urls.ts";
import { retryAfterMs, TeamsTokenError, type TeamsTokenSource } from "./token.ts";

/** Teams refuses messages above about 28 KB; longer replies are cut (one reply, one message). */
export const TEAMS_TEXT_LIMIT = 28_000;

/** What the Teams sender needs. */
export interface TeamsSenderOptions {
  connections: TeamsConnectionStore;
  serviceUrls: TeamsServiceUrls;
  tokens: TeamsTokenSource;
  /** Whether replies may go to this service URL (checked again here, not only at the ingress). */
  serviceUrlAllowed(serviceUrl: string): boolean;
  callTimeoutMs?: number;
}

/**
 * Teams' side of the reply protocol: `POST <serviceUrl>/v3/conversations/<id>/activities/<activityId>`
 * (the Bot Connector's "reply to activity", which threads the answer under the question in a
 * channel), with the bot's client-credentials token.
 *
 * There is no `find`: the Connector API cannot list a Teams conversation's activities, so a post
 * whose answer was lost (a timeout, a 5xx) cannot be checked and is dead-lettered rather than
 * posted twice — at most once, as for Telegram. A connection that was refused outright
 * (`ECONNREFUSED`) posted nothing and is retried.
 */
export function createTeamsSender(options: TeamsSenderOptions): ReplySender<TeamsConnection & { serviceUrl: string }> {
  const callTimeoutMs = options.callTimeoutMs ?? 15_000;
  return {
    channel: "teams",
    async target(reply) {
      const connection = await options.connections.get(reply.connectionId);
      if (!connection || connection.tenantId !== reply.tenantId || connection.appId !== reply.target.workspaceId) {
        return { ok: false, reason: `Teams connection ${reply.connectionId} not found for tenant ${reply.tenantId}` };
      }
      const serviceUrl = await options.serviceUrls.lookup(reply.tenantId, reply.target.channelId);
      if (serviceUrl === null) return { ok: false, reason: "no service URL is known for this Teams conversation" };
      if (!options.serviceUrlAllowed(serviceUrl)) {
        return { ok: false, reason: `Teams service URL ${new URL(serviceUrl).origin} is not in TEAMS_SERVICE_URLS` };
      }
      return { ok: true, connection: { ...connection, serviceUrl } };
    },
    async post(reply, connection) {
      let token: string;
      try {
        token = await options.tokens.token(connection);
      } catch (error) {
        // No token means nothing was posted: a refusal, never an uncertain post.
        if (error instanceof TeamsTokenError && error.kind === "rate_limited") {
          return { kind: "rate_limited", retryAfterMs: error.retryAfterMs ?? 1_000 };
        }
        return {
          kind: "refused",
          permanent: false,
          detail: error instanceof Error ? error.message : String(error),
        };
      }
      const url = replyUrl(connection.serviceUrl, reply.target.channelId, reply.target.inReplyToMessageId);
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify(replyActivity(reply)),
          signal: AbortSignal.timeout(callTimeoutMs),
        });
      } catch (error) {
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        const detail = `reply: ${typeof code === "string" ? code : (error as Error).name}`;
        // Refused before a byte was sent: nothing can have been posted.
        if (code === "ECONNREFUSED") return { kind: "refused", permanent: false, detail };
        return { kind: "uncertain", detail };
      }
      const body = (await response.json().catch(() => ({}))) as { id?: unknown; error?: { code?: unknown } };
      if (response.ok) return { kind: "posted", messageId: typeof body.id === "string" ? body.id : null };
      const detail = `reply: HTTP ${response.status}${typeof body.error?.code === "string" ? ` ${body.error.code}` : ""}`;
      if (response.status === 429) {
        return { kind: "rate_limited", retryAfterMs: retryAfterMs(response.headers.get("retry-after")) };
      }
      if (response.status === 401) {
        // The token was refused (expired early, or the password changed): fetch a new one next time.
        options.tokens.forget(connection);
        return { kind: "refused", permanent: false, detail };
      }
      if (response.status >= 500) return { kind: "uncertain", detail };
      // 400 (bad activity), 403 (the bot was removed or blocked), 404 (no such conversation).
      return { kind: "refused", permanent: true, detail };
    },
  };
}

/** The Connector API URL that replies to one activity. */
export function replyUrl(serviceUrl: string, conversationId: string, activityId: string): string {
  return `${serviceUrl.replace(/\/+$/, "")}/v3/conversations/${encodeURIComponent(conversationId)}/activities/${encodeURIComponent(activityId)}`;
}

/** The message activity of one reply. */
export function replyActivity(reply: OutboundReply): Record<string, unknown> {
  return {
    type: "message",
    text: cutReplyText(reply.text, TEAMS_TEXT_LIMIT),
    textFormat: "markdown",
    replyToId: reply.target.inReplyToMessageId,
  };
}
