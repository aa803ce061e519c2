import { ack, type OutboundReply, type Outcome, poison, retry, retryDelay } from "@konstruct/core";
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
} from "@slack/web-api";
import type { Logger } from "pino";
import type { GatewayMetrics } from "../../metrics.ts";
import type { LedgerEntry, ReplyLedger } from "../../outbound/reply-ledger.ts";
import type { OutboundHandler } from "../channel.ts";
import type { SlackConnectionStore } from "./connections.ts";

/** The `metadata.event_type` every Konstruct reply carries, so a post can be found again after a crash. */
export const REPLY_METADATA_EVENT_TYPE = "konstruct_reply";

/**
 * Slack errors that no retry can fix: the reply is dead-lettered. (Anything else Slack refuses
 * outright is retried; anything that may have half-happened is verified before a re-post.)
 */
const PERMANENT_ERRORS = new Set([
  "channel_not_found",
  "not_in_channel",
  "is_archived",
  "invalid_auth",
  "not_authed",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "no_permission",
  "missing_scope",
  "restricted_action",
  "restricted_action_read_only_channel",
  "restricted_action_thread_only_channel",
  "restricted_action_non_threadable_channel",
  "ekm_access_denied",
  "team_access_not_granted",
  "msg_too_long",
  "no_text",
  "invalid_arguments",
  "invalid_metadata_format",
  "invalid_metadata_schema",
  "metadata_too_large",
  "cannot_reply_to_message",
  "thread_locked",
]);

// Slack says these may have partly succeeded before failing: treat like a lost response.
const UNCERTAIN_ERRORS = new Set(["internal_error", "fatal_error"]);

/** What the Slack outbound handler needs. */
export interface SlackOutboundOptions {
  connections: SlackConnectionStore;
  ledger: ReplyLedger;
  /** Slack Web API base URL (`SLACK_API_URL`). */
  slackApiUrl: string;
  metrics: GatewayMetrics;
  log: Logger;
  /** A claim older than this belongs to a worker that died mid-post (longer than a post can take). */
  staleClaimMs?: number;
  /** Timeout of one Slack call. */
  callTimeoutMs?: number;
  now?: () => number;
}

/**
 * Posts each OutboundReply to Slack at most once, across redeliveries and crashes:
 *
 * 1. claim the reply id in Redis (`pending`), or find an earlier record;
 * 2. `posted` → ack without posting; a fresh `pending` → another delivery is posting, retry later;
 * 3. a stale `pending` or an `uncertain` (a worker died or lost the response mid-post) → look for
 *    the reply in the thread by its metadata (`conversations.replies`); found → record and ack;
 *    not found → take the claim over and post; cannot look → dead-letter rather than risk a
 *    second post;
 * 4. `chat.postMessage` in the thread with `metadata.event_payload.reply_id`, then record `posted`.
 *
 * Rate limits (429) are not waited out in-process: the claim is released and the message is
 * nak'ed with Slack's `Retry-After`, so one tenant's limited workspace never holds a worker
 * slot that other tenants' replies could use.
 */
export function createSlackOutboundHandler(options: SlackOutboundOptions): OutboundHandler {
  const { connections, ledger, metrics } = options;
  const staleClaimMs = options.staleClaimMs ?? 30_000;
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const now = options.now ?? Date.now;
  const clients = new Map<string, WebClient>();

  const clientFor = (token: string): WebClient => {
    let client = clients.get(token);
    if (!client) {
      client = new WebClient(token, {
        slackApiUrl: options.slackApiUrl,
        // Retries belong to JetStream (nak with delay), not to an in-process loop holding a slot.
        rejectRateLimitedCalls: true,
        retryConfig: { retries: 0 },
        timeout: callTimeoutMs,
        logLevel: LogLevel.ERROR,
      });
      if (clients.size >= 1_000) clients.delete(clients.keys().next().value as string);
      clients.set(token, client);
    }
    return client;
  };

  const count = (result: string) => metrics.posts.inc({ channel: "slack", result });

  return async (reply, delivery) => {
    // Built on first use: a pino child serialises (and redacts) its bindings when created, ~2% of
    // the gateway's CPU at 200 replies/s, and a reply posted first time logs nothing.
    let child: Logger | undefined;
    const log = () =>
      (child ??= options.log.child({ tenantId: reply.tenantId, replyId: reply.replyId, delivery: delivery.deliveryCount }));

    const connection = await connections.get(reply.connectionId);
    if (!connection || connection.tenantId !== reply.tenantId) {
      count("poison");
      return poison(`Slack connection ${reply.connectionId} not found for tenant ${reply.tenantId}`);
    }
    const client = clientFor(connection.botToken);

    const claim = await ledger.claim(reply.tenantId, reply.replyId);
    let owner: string;
    if (claim.claimed) {
      owner = claim.owner;
    } else {
      const outcome = await resolveEarlierClaim(claim.entry, claim.raw);
      if (outcome.kind !== "post") return outcome.outcome;
      owner = outcome.owner;
    }
    return post(owner);

    async function resolveEarlierClaim(
      entry: LedgerEntry,
      raw: string,
    ): Promise<{ kind: "post"; owner: string } | { kind: "done"; outcome: Outcome }> {
      const done = (outcome: Outcome) => ({ kind: "done" as const, outcome });
      if (entry.state === "posted") {
        count("already_posted");
        return done(ack);
      }
      const age = now() - entry.at;
      if (entry.state === "pending" && age < staleClaimMs) {
        count("in_progress");
        return done(retry("another delivery of this reply is being posted", staleClaimMs - age + 250));
      }
      let found: string | null;
      try {
        found = await findPostedReply(client, reply, entry.at);
      } catch (error) {
        if (error instanceof WebAPIPlatformError) {
          // Without a way to look, re-posting could duplicate; at most once means we stop here.
          count("poison");
          log().error(
            { slackError: error.data.error },
            "cannot verify whether an interrupted reply was posted; dead-lettering it",
          );
          return done(poison(`could not verify an interrupted post (${error.data.error}); not re-posting`));
        }
        return done(slackRetry(error, "verifying an interrupted post"));
      }
      if (found !== null) {
        await ledger.markPosted(reply.tenantId, reply.replyId, found);
        count("recovered");
        log().info({ ts: found }, "interrupted reply had been posted; recorded without posting again");
        return done(ack);
      }
      const owner = await ledger.takeOver(reply.tenantId, reply.replyId, raw);
      if (owner === null) {
        count("in_progress");
        return done(retry("another delivery took over this reply", 1_000));
      }
      log().info({ previous: entry.state }, "interrupted reply was not posted; posting it now");
      return { kind: "post", owner };
    }

    async function post(owner: string): Promise<Outcome> {
      const started = performance.now();
      try {
        const result = await client.chat.postMessage({
          channel: reply.target.channelId,
          thread_ts: reply.target.threadId,
          text: reply.text,
          metadata: { event_type: REPLY_METADATA_EVENT_TYPE, event_payload: { reply_id: reply.replyId } },
        });
        metrics.postSeconds.observe({ channel: "slack" }, (performance.now() - started) / 1000);
        // If this write is lost (Redis down, crash), the claim goes stale and the next delivery
        // finds the post by its metadata instead of posting again.
        await ledger.markPosted(reply.tenantId, reply.replyId, result.ts ?? null);
        count("posted");
        return ack;
      } catch (error) {
        metrics.postSeconds.observe({ channel: "slack" }, (performance.now() - started) / 1000);
        if (error instanceof WebAPIRateLimitedError) {
          await ledger.release(reply.tenantId, reply.replyId, owner);
          count("rate_limited");
          log().warn({ retryAfterSeconds: error.retryAfter }, "Slack rate limit; retrying after Retry-After");
          return retry("Slack rate limit", Math.max(1, error.retryAfter) * 1_000);
        }
        if (error instanceof WebAPIPlatformError && !UNCERTAIN_ERRORS.has(error.data.error)) {
          await ledger.release(reply.tenantId, reply.replyId, owner);
          if (PERMANENT_ERRORS.has(error.data.error)) {
            count("poison");
            log().error({ slackError: error.data.error }, "Slack refused the reply for good; dead-lettering it");
            return poison(`Slack chat.postMessage: ${error.data.error}`);
          }
          return slackRetry(error, "posting");
        }
        // A network error, timeout or 5xx: the post may have landed. Mark it so the next
        // delivery looks before it posts, instead of waiting for the claim to go stale.
        await ledger.markUncertain(reply.tenantId, reply.replyId, owner);
        return slackRetry(error, "posting");
      }
    }

    function slackRetry(error: unknown, doing: string): Outcome {
      count("retry");
      const detail =
        error instanceof WebAPIPlatformError
          ? error.data.error
          : error instanceof WebAPIHTTPError
            ? `HTTP ${error.statusCode}`
            : error instanceof WebAPIRequestError
              ? error.original.message
              : error instanceof Error
                ? error.message
                : String(error);
      log().warn({ detail }, `Slack call failed while ${doing}; will retry`);
      return retry(`Slack: ${detail}`, retryDelay(delivery.deliveryCount));
    }
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
