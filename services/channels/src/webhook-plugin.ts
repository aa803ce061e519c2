import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { WebhookError } from "./errors.ts";
import type { ChannelMetrics } from "./host.ts";

/**
 * Sets up a channel's webhook plugin: the plugin's own content-type parser, which hands every
 * body over as the raw Buffer (a signature or token is checked over those bytes before anything
 * is parsed), and one `webhooks` metric per response, labelled with the result the handler
 * recorded in the returned map, or one derived from the status when it recorded none.
 */
export function rawBodyWebhook<R extends string>(
  app: FastifyInstance,
  options: { channel: string; bodyLimit: number; metrics: ChannelMetrics },
): WeakMap<FastifyRequest, R> {
  const { channel, bodyLimit, metrics } = options;
  const results = new WeakMap<FastifyRequest, R>();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit }, (_request, body, done) => done(null, body));
  app.addHook("onResponse", async (request, reply) => {
    metrics.webhooks.inc({ channel, result: results.get(request) ?? webhookResultOfStatus(reply.statusCode) });
  });
  return results;
}

/**
 * The webhook's connection, or null when none has the id. A store that fails (database down,
 * unusable credentials) is logged and answered 503, so the sender retries later.
 */
export async function webhookConnection<C>(
  connections: { get(connectionId: string): Promise<C | null> },
  connectionId: string,
  log: Logger,
  label: string,
): Promise<C | null> {
  try {
    return await connections.get(connectionId);
  } catch (error) {
    log.error({ err: error, connectionId }, `could not load the ${label} connection`);
    throw new WebhookError("UNAVAILABLE", `${label} connection could not be loaded`, { cause: error });
  }
}

/** A webhook's metric result from its HTTP status, when its handler recorded none. */
function webhookResultOfStatus(status: number): string {
  switch (status) {
    case 401:
      return "unauthorized";
    case 400:
      return "malformed";
    case 413:
      return "too_large";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "error" : String(status);
  }
}
