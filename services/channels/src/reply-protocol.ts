import { ack, type ChannelActivity, type Disposition, type OutboundReply, poison, retry, retryDelay } from "@konstruct/core";
import type { Logger } from "pino";
import type { ChannelDeps, OutboundHandler } from "./gateway-channel.ts";
import type { ChannelMetrics } from "./host.ts";
import type { LedgerEntry, ReplyLedger } from "./reply-ledger.ts";

/** What one post attempt did, as a channel's sender reports it. */
export type PostResult =
  /** The channel confirmed the post; `repeat` when an idempotent sender had posted it before. */
  | { kind: "posted"; messageId: string | null; repeat?: boolean }
  /** The channel asked us to wait (HTTP 429); nothing was posted. */
  | { kind: "rate_limited"; retryAfterMs: number }
  /** The channel refused outright, so nothing landed; `permanent` when no retry can succeed. */
  | { kind: "refused"; permanent: boolean; detail: string }
  /** The post may or may not have landed (a network error, a timeout, a 5xx). */
  | { kind: "uncertain"; detail: string };

/** What looking for an earlier post of a reply found. */
export type LookupResult =
  | { kind: "found"; messageId: string }
  | { kind: "absent" }
  /** The channel will not let us look (a permission, a revoked token): re-posting could duplicate. */
  | { kind: "cannot_look"; detail: string }
  /** The look itself failed for now. */
  | { kind: "failed"; detail: string };

/** Where a reply goes: the resolved connection, or why the reply can never be delivered. */
export type ReplyTarget<C> = { ok: true; connection: C } | { ok: false; reason: string };

/** One channel's way of delivering replies; the protocol around it is {@link createReplyDelivery}'s. */
export interface ReplySender<C> {
  /** The channel type, for metrics and logs. */
  channel: string;
  /**
   * The connection a reply goes through. A reply whose connection, tenant or workspace do not
   * agree is never delivered: it must not land in another tenant's conversation.
   */
  target(reply: OutboundReply): Promise<ReplyTarget<C>>;
  /** Posts the reply once. Throwing counts as `uncertain`. */
  post(reply: OutboundReply, connection: C): Promise<PostResult>;
  /**
   * Looks in the channel for a post of this reply made since `sinceMs` (replies carry their id,
   * e.g. in Slack's message metadata). Without it, an interrupted post is never retried: at most
   * once wins over at least once.
   */
  find?(reply: OutboundReply, connection: C, sinceMs: number): Promise<LookupResult>;
  /**
   * True when `post` is itself idempotent by reply id (the web chat's append-once script): the
   * ledger is then skipped, since it could add nothing but two round trips.
   */
  idempotent?: boolean;
}

/** What {@link createReplyDelivery} needs besides the sender. */
export interface ReplyDeliveryOptions {
  ledger: ReplyLedger;
  metrics: ChannelMetrics;
  log: Logger;
  /** A claim older than this belongs to a worker that died mid-post (longer than a post can take). */
  staleClaimMs?: number;
  now?: () => number;
  /** Where a refused or failed post is noted for the portal's channels page (throttled, never waits). */
  activity?: ChannelActivity | undefined;
}

type Resolution = { kind: "post"; owner: string } | { kind: "done"; outcome: Disposition };

/**
 * The at-most-once reply protocol every channel posts through:
 *
 * 1. claim the reply id in the ledger (`pending`), or find an earlier record;
 * 2. `posted` → ack without posting; a fresh `pending` → another delivery is posting, retry later;
 * 3. a stale `pending` or an `uncertain` (a worker died or lost the response mid-post) → ask the
 *    channel whether the reply is there; found → record and ack; absent → take the claim over and
 *    post; cannot look (or the channel has no way to look) → dead-letter rather than risk a
 *    second post;
 * 4. post, then record `posted`. A rate limit releases the claim and retries after the channel's
 *    `Retry-After`, so one limited tenant never holds a worker slot others could use; an outright
 *    refusal releases it too (permanent ones are dead-lettered); an uncertain failure is recorded
 *    so the next delivery looks before it posts.
 */
export function createReplyDelivery<C>(sender: ReplySender<C>, options: ReplyDeliveryOptions): OutboundHandler {
  const { ledger, metrics } = options;
  const staleClaimMs = options.staleClaimMs ?? 30_000;
  const now = options.now ?? Date.now;
  const channel = sender.channel;
  const count = (result: string) => metrics.posts.inc({ channel, result });

  return async (reply, delivery) => {
    // Built on first use: a pino child serialises its bindings when created, and a reply posted
    // first time logs nothing.
    let child: Logger | undefined;
    const log = () =>
      (child ??= options.log.child({ tenantId: reply.tenantId, replyId: reply.replyId, delivery: delivery.deliveryCount }));
    const retryLater = (detail: string, doing: string): Disposition => {
      count("retry");
      log().warn({ detail }, `${channel}: ${doing} failed; will retry`);
      return retry(`${channel}: ${detail}`, retryDelay(delivery.deliveryCount));
    };

    const target = await sender.target(reply);
    if (!target.ok) {
      count("poison");
      return poison(target.reason);
    }
    const { connection } = target;

    if (sender.idempotent) return post(null);

    const claim = await ledger.claim(reply.tenantId, reply.replyId);
    if (claim.claimed) return post(claim.owner);
    const resolution = await resolveEarlierClaim(claim.entry, claim.raw);
    return resolution.kind === "post" ? post(resolution.owner) : resolution.outcome;

    async function resolveEarlierClaim(entry: LedgerEntry, raw: string): Promise<Resolution> {
      const done = (outcome: Disposition): Resolution => ({ kind: "done", outcome });
      if (entry.state === "posted") {
        count("already_posted");
        return done(ack);
      }
      const age = now() - entry.at;
      if (entry.state === "pending" && age < staleClaimMs) {
        count("in_progress");
        return done(retry("another delivery of this reply is being posted", staleClaimMs - age + 250));
      }
      const found: LookupResult = sender.find
        ? await sender.find(reply, connection, entry.at).catch((error: unknown) => ({ kind: "failed", detail: detailOf(error) }))
        : { kind: "cannot_look", detail: `${channel} offers no way to look for a posted message` };
      switch (found.kind) {
        case "cannot_look":
          count("poison");
          log().error({ detail: found.detail }, "cannot verify whether an interrupted reply was posted; dead-lettering it");
          return done(poison(`could not verify an interrupted post (${found.detail}); not re-posting`));
        case "failed":
          return done(retryLater(found.detail, "verifying an interrupted post"));
        case "found":
          await ledger.markPosted(reply.tenantId, reply.replyId, found.messageId);
          count("recovered");
          log().info({ messageId: found.messageId }, "interrupted reply had been posted; recorded without posting again");
          return done(ack);
        case "absent": {
          const owner = await ledger.takeOver(reply.tenantId, reply.replyId, raw);
          if (owner === null) {
            count("in_progress");
            return done(retry("another delivery took over this reply", 1_000));
          }
          log().info({ previous: entry.state }, "interrupted reply was not posted; posting it now");
          return { kind: "post", owner };
        }
      }
    }

    async function post(owner: string | null): Promise<Disposition> {
      const started = performance.now();
      const result = await sender
        .post(reply, connection)
        .catch((error: unknown): PostResult => ({ kind: "uncertain", detail: detailOf(error) }));
      metrics.postSeconds.observe({ channel }, (performance.now() - started) / 1000);
      switch (result.kind) {
        case "posted":
          // If this write is lost (Redis down, crash), the claim goes stale and the next delivery
          // looks for the post instead of posting again.
          if (owner !== null) await ledger.markPosted(reply.tenantId, reply.replyId, result.messageId);
          count(result.repeat ? "already_posted" : "posted");
          return ack;
        case "rate_limited":
          if (owner !== null) await ledger.release(reply.tenantId, reply.replyId, owner);
          count("rate_limited");
          log().warn({ retryAfterMs: result.retryAfterMs }, `${channel} rate limit; retrying after Retry-After`);
          return retry(`${channel} rate limit`, Math.max(1_000, result.retryAfterMs));
        case "refused":
          options.activity?.error(reply.tenantId, reply.connectionId, `${channel}: ${result.detail}`);
          if (owner !== null) await ledger.release(reply.tenantId, reply.replyId, owner);
          if (result.permanent) {
            count("poison");
            log().error({ detail: result.detail }, `${channel} refused the reply for good; dead-lettering it`);
            return poison(`${channel} refused the reply: ${result.detail}`);
          }
          return retryLater(result.detail, "posting");
        case "uncertain":
          options.activity?.error(reply.tenantId, reply.connectionId, `${channel}: ${result.detail}`);
          if (owner !== null) await ledger.markUncertain(reply.tenantId, reply.replyId, owner);
          return retryLater(result.detail, "posting");
      }
    }
  };
}

function detailOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A channel's outbound handler from its sender and the gateway's shared dependencies: the reply
 * ledger, the metrics, a log for the channel's outbound worker and the configured stale-claim age.
 */
export function channelReplyDelivery<C>(
  sender: ReplySender<C>,
  deps: Pick<ChannelDeps, "ledger" | "metrics" | "log" | "settings" | "activity">,
): OutboundHandler {
  const { staleClaimMs } = deps.settings;
  return createReplyDelivery(sender, {
    ledger: deps.ledger,
    metrics: deps.metrics,
    log: deps.log.child({ channel: sender.channel, worker: "outbound" }),
    activity: deps.activity,
    ...(staleClaimMs === undefined ? {} : { staleClaimMs }),
  });
}
