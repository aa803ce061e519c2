import { MessageValidationError } from "@konstruct/core";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { WebhookError } from "../errors.ts";
import { type ChannelMetrics, type InboundPublisher, publishInbound } from "../host.ts";
import { rawBodyWebhook, webhookConnection } from "../webhook-plugin.ts";
import type { SlackConnectionStore } from "./connections.ts";
import { normalizeSlackEvent } from "./normalize.ts";
import { verifySlackSignature } from "./signature.ts";

/** Slack documents no body limit for events; 1 MB is far above any event and bounds memory per request. */
export const SLACK_BODY_LIMIT = 1024 * 1024;

/** What the Slack ingress plugin needs. */
export interface SlackIngressOptions {
  publisher: InboundPublisher;
  connections: SlackConnectionStore;
  /** Signing secret of the platform's shared Slack app (`SLACK_SIGNING_SECRET`). */
  platformSigningSecret: string;
  metrics: ChannelMetrics;
  log: Logger;
  /**
   * Called for the shared app's `app_uninstalled` (revoked = null) and `tokens_revoked` (the
   * revoked bot users) events, to forget the installation in that team.
   */
  onUninstall?: (teamId: string, revokedBotUserIds: string[] | null) => Promise<void>;
  now?: () => number;
}

type Result = "accepted" | "duplicate" | "ignored" | "url_verification" | "team_mismatch" | "uninstalled";

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return typeof value === "string" ? value : undefined;
};

/**
 * The Slack Events API, both ways in: `/webhooks/slack/:connectionId/events` for a tenant's own
 * app (that connection's signing secret) and `/webhooks/slack/events` for the platform's shared
 * app (the platform secret; the router resolves the tenant by team id). The body stays bytes
 * until the signature over those bytes has passed.
 */
export const slackIngress: FastifyPluginAsync<SlackIngressOptions> = async (app, options) => {
  const { publisher, connections, platformSigningSecret, metrics } = options;
  const now = options.now ?? Date.now;
  const log = options.log.child({ channel: "slack" });
  const results = rawBodyWebhook<Result>(app, { channel: "slack", bodyLimit: SLACK_BODY_LIMIT, metrics });

  const handle = async (
    request: FastifyRequest,
    reply: FastifyReply,
    secret: string | null,
    connection: { id: string; teamId: string } | null,
  ) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const signed = {
      timestamp: header(request, "x-slack-request-timestamp"),
      signature: header(request, "x-slack-signature"),
      body,
    };
    if (secret === null || !verifySlackSignature(secret, signed, now())) {
      throw new WebhookError("SIGNATURE_INVALID", "Slack request signature did not verify");
    }

    let payload: { type?: unknown; challenge?: unknown; team_id?: unknown };
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch (cause) {
      throw new WebhookError("MESSAGE_INVALID", "Slack request body is not JSON", { cause });
    }
    if (payload === null || typeof payload !== "object")
      throw new WebhookError("MESSAGE_INVALID", "Slack request body is not an object");

    if (payload.type === "url_verification") {
      if (typeof payload.challenge !== "string")
        throw new WebhookError("MESSAGE_INVALID", "url_verification without a challenge");
      results.set(request, "url_verification");
      return reply.send({ challenge: payload.challenge });
    }
    if (payload.type !== "event_callback") {
      // app_rate_limited and future envelope types: nothing to route, and Slack must not retry.
      log.debug({ envelope: String(payload.type).slice(0, 64), reason: "unsupported_envelope" }, "Slack request ignored");
      results.set(request, "ignored");
      return reply.status(200).send();
    }
    // A tenant's own app signs only its own workspace's events: an envelope naming another team
    // would let one tenant occupy another's de-duplication keys, so it goes no further.
    if (connection && payload.team_id !== connection.teamId) {
      log.warn({ connectionId: connection.id }, "signed Slack event for a team other than the connection's; ignored");
      results.set(request, "team_mismatch");
      return reply.status(200).send();
    }

    // The shared app was removed from a workspace, or its bot token revoked: Slack sends no more
    // events there, and the stored token is dead. Only the shared app's installations are ours.
    const event = (payload as { event?: { type?: unknown; tokens?: { bot?: unknown } } }).event;
    if (connection === null && (event?.type === "app_uninstalled" || event?.type === "tokens_revoked")) {
      const bots = event.type === "tokens_revoked" ? stringsOf(event.tokens?.bot) : null;
      if (options.onUninstall && typeof payload.team_id === "string" && (bots === null || bots.length > 0)) {
        await options.onUninstall(payload.team_id, bots).catch((error) => {
          log.error({ err: error }, "could not forget the Slack installation; Slack will retry");
          throw new WebhookError("UNAVAILABLE", "Slack uninstall could not be recorded", { cause: error });
        });
      }
      results.set(request, "uninstalled");
      return reply.status(200).send();
    }

    let normalized: ReturnType<typeof normalizeSlackEvent>;
    try {
      normalized = normalizeSlackEvent(payload, { connectionId: connection?.id ?? null });
    } catch (error) {
      if (error instanceof MessageValidationError) throw new WebhookError("MESSAGE_INVALID", error.message, { cause: error });
      throw error;
    }
    if (normalized.kind === "ignored") {
      log.debug({ eventType: normalized.eventType.slice(0, 64), reason: normalized.reason }, "Slack event ignored");
      results.set(request, "ignored");
      return reply.status(200).send();
    }

    const { duplicate } = await publishInbound(publisher, metrics, normalized.message);
    results.set(request, duplicate ? "duplicate" : "accepted");
    return reply.status(200).send();
  };

  const routeOptions = { bodyLimit: SLACK_BODY_LIMIT };

  app.post("/webhooks/slack/events", routeOptions, (request, reply) => handle(request, reply, platformSigningSecret, null));

  app.post<{ Params: { connectionId: string } }>("/webhooks/slack/:connectionId/events", routeOptions, async (request, reply) => {
    const connection = await webhookConnection(connections, request.params.connectionId, log, "Slack");
    // An unknown connection answers exactly like a bad signature: ids cannot be probed.
    return handle(
      request,
      reply,
      connection?.signingSecret ?? null,
      connection ? { id: connection.connectionId, teamId: connection.teamId } : null,
    );
  });
};

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}
