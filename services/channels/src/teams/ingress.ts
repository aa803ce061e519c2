import { MessageValidationError } from "@konstruct/core";
import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import { WebhookError } from "../errors.ts";
import { type ChannelMetrics, type InboundPublisher, publishInbound } from "../host.ts";
import { rawBodyWebhook, webhookConnection } from "../webhook-plugin.ts";
import { TeamsAuthError, type TeamsTokenVerifier } from "./auth.ts";
import type { TeamsConnectionStore } from "./connections.ts";
import { TEAMS_CONNECTION_ROUTE } from "./definition.ts";
import { activityTypeOf, normalizeTeamsActivity, type TeamsIgnoreReason } from "./normalize.ts";
import type { TeamsServiceUrls } from "./service-urls.ts";

/** The Bot Framework caps an activity at 256 KB (Teams at about 100 KB); 1 MB bounds memory per request. */
export const TEAMS_BODY_LIMIT = 1024 * 1024;

/** What the Teams ingress plugin needs. */
export interface TeamsIngressOptions {
  publisher: InboundPublisher;
  connections: TeamsConnectionStore;
  verifier: TeamsTokenVerifier;
  serviceUrls: TeamsServiceUrls;
  serviceUrlAllowed(serviceUrl: string): boolean;
  metrics: ChannelMetrics;
  log: Logger;
}

type Result = "accepted" | "duplicate" | "malformed" | "service_url_not_allowed" | `ignored_${TeamsIgnoreReason}`;

/**
 * The Teams messaging endpoint: `POST /webhooks/teams/:connectionId`, one activity per request.
 *
 * The bearer token is verified (signature, issuer, audience = the connection's app id, expiry)
 * while the body is still bytes; an unknown connection answers like a bad token. Only then is the
 * body parsed, and the token must also vouch for it: its `serviceurl` claim must be the
 * activity's `serviceUrl`, and its key must be endorsed for the activity's channel. The Bot
 * Framework retries a request that fails or times out, with the same activity id, so the delivery
 * id (activity and conversation) de-duplicates through the stream's msgID.
 */
export const teamsIngress: FastifyPluginAsync<TeamsIngressOptions> = async (app, options) => {
  const { publisher, connections, verifier, serviceUrls, metrics } = options;
  const log = options.log.child({ channel: "teams" });
  const results = rawBodyWebhook<Result>(app, { channel: "teams", bodyLimit: TEAMS_BODY_LIMIT, metrics });

  const unauthorized = (detail: string, connectionId: string) => {
    log.debug({ connectionId, reason: detail }, "Teams request refused");
    return new WebhookError("SIGNATURE_INVALID", "Teams bearer token did not verify");
  };

  app.post<{ Params: { connectionId: string } }>(
    TEAMS_CONNECTION_ROUTE,
    { bodyLimit: TEAMS_BODY_LIMIT },
    async (request, reply) => {
      const { connectionId } = request.params;
      const connection = await webhookConnection(connections, connectionId, log, "Teams");
      const bearer = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(request.headers.authorization ?? "")?.[1];
      if (!connection || !bearer) throw unauthorized(connection ? "no bearer token" : "unknown connection", connectionId);

      let verified: Awaited<ReturnType<TeamsTokenVerifier["verify"]>>;
      try {
        verified = await verifier.verify(bearer, connection.appId);
      } catch (error) {
        if (error instanceof TeamsAuthError && error.kind === "unavailable") {
          log.warn({ err: error, connectionId }, "Bot Framework signing keys unavailable; the Bot Framework will retry");
          throw new WebhookError("UNAVAILABLE", "Bot Framework keys unavailable", { cause: error });
        }
        throw unauthorized(error instanceof Error ? error.message : "token refused", connectionId);
      }

      // The token verified: the body is the Bot Framework's, for this bot. Now read it.
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      let activity: unknown;
      try {
        activity = JSON.parse(body.toString("utf8"));
      } catch {
        results.set(request, "malformed");
        throw new WebhookError("MESSAGE_INVALID", "Teams activity is not JSON");
      }
      const { serviceUrl, channelId } = (activity ?? {}) as { serviceUrl?: unknown; channelId?: unknown };
      // The token is bound to the service URL it was issued for; an activity naming another one was
      // not sent by that service (a token lifted from one request and replayed with a new body).
      if (typeof serviceUrl !== "string" || stripSlash(serviceUrl) !== stripSlash(verified.claims.serviceurl ?? "")) {
        throw unauthorized("serviceUrl does not match the token's serviceurl claim", connectionId);
      }
      if (verified.endorsements !== null && (typeof channelId !== "string" || !verified.endorsements.includes(channelId))) {
        throw unauthorized("signing key is not endorsed for the activity's channel", connectionId);
      }

      let normalized: ReturnType<typeof normalizeTeamsActivity>;
      try {
        normalized = normalizeTeamsActivity(activity, { connectionId, appId: connection.appId });
      } catch (error) {
        if (!(error instanceof MessageValidationError)) throw error;
        log.warn({ connectionId, detail: error.message.slice(0, 300) }, "Teams activity malformed; dropped");
        results.set(request, "malformed");
        throw new WebhookError("MESSAGE_INVALID", error.message, { cause: error });
      }
      if (normalized.kind === "ignored") {
        log.debug({ connectionId, activityType: activityTypeOf(activity), reason: normalized.reason }, "Teams activity ignored");
        results.set(request, `ignored_${normalized.reason}`);
        return reply.status(200).send();
      }
      if (!options.serviceUrlAllowed(serviceUrl)) {
        log.warn(
          { connectionId, serviceUrl: safeOrigin(serviceUrl) },
          "Teams activity from a service URL outside TEAMS_SERVICE_URLS; not answered (add the origin if it is Microsoft's)",
        );
        results.set(request, "service_url_not_allowed");
        return reply.status(200).send();
      }

      // The reply needs the URL: remember it before the message can reach the outbound worker.
      await serviceUrls.remember(connection.tenantId, normalized.activity.conversation.id, serviceUrl).catch((error) => {
        log.warn({ err: error, connectionId }, "could not record the Teams service URL");
        throw new WebhookError("UNAVAILABLE", "Redis unavailable", { cause: error });
      });
      const { duplicate } = await publishInbound(publisher, metrics, normalized.message);
      results.set(request, duplicate ? "duplicate" : "accepted");
      return reply.status(200).send();
    },
  );
};

function stripSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}
