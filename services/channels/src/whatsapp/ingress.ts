import { MessageValidationError } from "@konstruct/core";
import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import { WebhookError } from "../errors.ts";
import { type ChannelMetrics, type InboundPublisher, publishInbound } from "../host.ts";
import { secretEquals } from "../secret-equals.ts";
import { rawBodyWebhook, webhookConnection } from "../webhook-plugin.ts";
import type { WhatsAppConnection, WhatsAppConnectionStore } from "./connections.ts";
import { WHATSAPP_CONNECTION_ROUTE } from "./definition.ts";
import { normalizeWhatsAppNotification, type WhatsAppIgnoreReason } from "./normalize.ts";
import { verifyWhatsAppSignature, WHATSAPP_SIGNATURE_HEADER } from "./signature.ts";

/** Meta caps a notification at 3 MB (media are never inline). */
export const WHATSAPP_BODY_LIMIT = 3 * 1024 * 1024;

/** What the WhatsApp ingress plugin needs. */
export interface WhatsAppIngressOptions {
  publisher: InboundPublisher;
  connections: WhatsAppConnectionStore;
  metrics: ChannelMetrics;
  log: Logger;
}

type Result = "accepted" | "duplicate" | "malformed" | "verified" | "handshake_refused" | `ignored_${WhatsAppIgnoreReason}`;

/**
 * The WhatsApp webhook of one connection, `/webhooks/whatsapp/:connectionId`:
 *
 * - `GET` is Meta's verification handshake when the URL is saved in the app's settings:
 *   `hub.mode=subscribe` and the connection's `hub.verify_token` get `hub.challenge` back as
 *   plain text; anything else 403.
 * - `POST` is a notification. `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under the
 *   connection's app secret) is checked while the body is still bytes; an unknown connection
 *   answers like a wrong signature (401). Meta retries whatever does not get a 200, for days, so
 *   a verified notification is answered 200 once each of its messages is durable, and message
 *   ids (wamid) de-duplicate its retries through the stream's msgID.
 */
export const whatsappIngress: FastifyPluginAsync<WhatsAppIngressOptions> = async (app, options) => {
  const { publisher, connections, metrics } = options;
  const log = options.log.child({ channel: "whatsapp" });
  const results = rawBodyWebhook<Result>(app, { channel: "whatsapp", bodyLimit: WHATSAPP_BODY_LIMIT, metrics });
  const load = (connectionId: string) => webhookConnection(connections, connectionId, log, "WhatsApp");

  app.get<{ Params: { connectionId: string }; Querystring: Record<string, string | string[] | undefined> }>(
    WHATSAPP_CONNECTION_ROUTE,
    async (request, reply) => {
      const connection = await load(request.params.connectionId);
      const one = (name: string) => {
        const value = request.query[name];
        return typeof value === "string" ? value : undefined;
      };
      const challenge = one("hub.challenge");
      const verified =
        one("hub.mode") === "subscribe" &&
        secretEquals(connection?.verifyToken ?? "", one("hub.verify_token")) &&
        challenge !== undefined &&
        // Meta's challenge is a number; nothing that could be markup is ever echoed.
        /^[A-Za-z0-9._-]{1,512}$/.test(challenge);
      if (!verified) {
        log.debug({ connectionId: request.params.connectionId }, "WhatsApp verification handshake refused");
        results.set(request, "handshake_refused");
        return reply.status(403).send({ error: "forbidden" });
      }
      results.set(request, "verified");
      return reply.status(200).header("content-type", "text/plain; charset=utf-8").send(challenge);
    },
  );

  app.post<{ Params: { connectionId: string } }>(
    WHATSAPP_CONNECTION_ROUTE,
    { bodyLimit: WHATSAPP_BODY_LIMIT },
    async (request, reply) => {
      const connection = await load(request.params.connectionId);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const presented = request.headers[WHATSAPP_SIGNATURE_HEADER];
      if (!verifyWhatsAppSignature(connection?.appSecret ?? "", body, typeof presented === "string" ? presented : undefined)) {
        throw new WebhookError("SIGNATURE_INVALID", "WhatsApp signature did not match");
      }
      // Verified: from here on the body is Meta's, signed for this connection's app.
      const verified = connection as WhatsAppConnection;
      const malformed = (detail: string) => {
        // Meta would retry a refusal for days; a verified notification we cannot read is dropped with a trace.
        log.warn(
          { connectionId: verified.connectionId, detail: detail.slice(0, 300) },
          "WhatsApp notification malformed; dropped",
        );
        results.set(request, "malformed");
        return reply.status(200).send();
      };
      let notification: unknown;
      try {
        notification = JSON.parse(body.toString("utf8"));
      } catch {
        return malformed("body is not JSON");
      }
      let normalized: ReturnType<typeof normalizeWhatsAppNotification>;
      try {
        normalized = normalizeWhatsAppNotification(notification, {
          connectionId: verified.connectionId,
          phoneNumberId: verified.phoneNumberId,
        });
      } catch (error) {
        if (error instanceof MessageValidationError) return malformed(error.message);
        throw error;
      }

      let accepted = 0;
      let duplicates = 0;
      let firstIgnored: WhatsAppIgnoreReason | null = null;
      for (const item of normalized) {
        if (item.kind === "ignored") {
          log.debug(
            { connectionId: verified.connectionId, reason: item.reason, detail: item.detail },
            "WhatsApp notification part ignored",
          );
          firstIgnored ??= item.reason;
          continue;
        }
        // A failed publish throws (503): Meta retries the whole notification and msgIDs keep what was stored once.
        const { duplicate } = await publishInbound(publisher, metrics, item.message);
        if (duplicate) duplicates++;
        else accepted++;
      }
      results.set(request, accepted > 0 ? "accepted" : duplicates > 0 ? "duplicate" : `ignored_${firstIgnored ?? "status"}`);
      return reply.status(200).send();
    },
  );
};
