import { MessageValidationError } from "@konstruct/core";
import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import { WebhookError } from "../errors.ts";
import { type ChannelMetrics, type InboundPublisher, publishInbound } from "../host.ts";
import { secretEquals } from "../secret-equals.ts";
import { rawBodyWebhook, webhookConnection } from "../webhook-plugin.ts";
import type { TelegramConnection, TelegramConnectionStore } from "./connections.ts";
import { TELEGRAM_CONNECTION_ROUTE } from "./definition.ts";
import { needsBotUsername, normalizeTelegramUpdate, type TelegramIgnoreReason, updateTypeOf } from "./normalize.ts";

/**
 * Telegram caps a bot's text at 4096 characters and documents no update size; 1 MB is far above
 * any update and bounds memory per request.
 */
export const TELEGRAM_BODY_LIMIT = 1024 * 1024;

/** The header Telegram sends with every webhook request when `setWebhook` was given a `secret_token`. */
export const TELEGRAM_SECRET_HEADER = "x-telegram-bot-api-secret-token";

/** What the Telegram ingress plugin needs. */
export interface TelegramIngressOptions {
  publisher: InboundPublisher;
  connections: TelegramConnectionStore;
  /** The bot's username, for @mentions in groups (`getMe`, cached by the caller). */
  botUsername(connection: TelegramConnection): Promise<string>;
  metrics: ChannelMetrics;
  log: Logger;
}

type Result = "accepted" | "duplicate" | "malformed" | `ignored_${TelegramIgnoreReason}`;

/**
 * The Telegram webhook: `POST /webhooks/telegram/:connectionId`, one Update per request. The
 * secret token is checked against that connection's `webhookSecret` while the body is still
 * bytes; an unknown connection answers like a wrong token. Telegram redelivers anything that
 * does not get a 2xx, so every update that is read is answered 200 once it is durable (or
 * ignored on purpose), and `update_id` de-duplicates redeliveries through the stream's msgID.
 */
export const telegramIngress: FastifyPluginAsync<TelegramIngressOptions> = async (app, options) => {
  const { publisher, connections, metrics } = options;
  const log = options.log.child({ channel: "telegram" });
  const results = rawBodyWebhook<Result>(app, { channel: "telegram", bodyLimit: TELEGRAM_BODY_LIMIT, metrics });

  app.post<{ Params: { connectionId: string } }>(
    TELEGRAM_CONNECTION_ROUTE,
    { bodyLimit: TELEGRAM_BODY_LIMIT },
    async (request, reply) => {
      const connection = await webhookConnection(connections, request.params.connectionId, log, "Telegram");
      const presented = request.headers[TELEGRAM_SECRET_HEADER];
      if (!secretEquals(connection?.webhookSecret ?? "", typeof presented === "string" ? presented : undefined)) {
        throw new WebhookError("SIGNATURE_INVALID", "Telegram secret token did not match");
      }
      // Verified: from here on the body is the connection's bot's.
      const verified = connection as TelegramConnection;

      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      // A verified update we cannot read is answered 200 all the same: Telegram holds back the
      // bot's later updates while one is refused, so a 4xx here would stall the whole bot.
      const malformed = (detail: string) => {
        log.warn({ connectionId: verified.connectionId, detail: detail.slice(0, 300) }, "Telegram update malformed; dropped");
        results.set(request, "malformed");
        return reply.status(200).send();
      };
      let update: unknown;
      try {
        update = JSON.parse(body.toString("utf8"));
      } catch {
        return malformed("body is not JSON");
      }

      let botUsername: string | null = null;
      if (needsBotUsername(update)) {
        botUsername = await options.botUsername(verified).catch((error) => {
          log.warn({ err: error, connectionId: verified.connectionId }, "could not learn the bot's username (getMe)");
          throw new WebhookError("UNAVAILABLE", "Telegram getMe failed", { cause: error });
        });
      }

      let normalized: ReturnType<typeof normalizeTelegramUpdate>;
      try {
        normalized = normalizeTelegramUpdate(update, {
          connectionId: verified.connectionId,
          botId: verified.botId,
          botUsername,
        });
      } catch (error) {
        if (error instanceof MessageValidationError) return malformed(error.message);
        throw error;
      }
      if (normalized.kind === "ignored") {
        log.debug(
          { connectionId: verified.connectionId, updateType: updateTypeOf(update), reason: normalized.reason },
          "Telegram update ignored",
        );
        results.set(request, `ignored_${normalized.reason}`);
        return reply.status(200).send();
      }

      const { duplicate } = await publishInbound(publisher, metrics, normalized.message);
      results.set(request, duplicate ? "duplicate" : "accepted");
      return reply.status(200).send();
    },
  );
};
