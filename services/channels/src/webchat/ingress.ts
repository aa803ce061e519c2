import { randomUUID } from "node:crypto";
import type { KonstructMessage } from "@konstruct/core";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { type ChannelMetrics, type InboundPublisher, publishInbound } from "../host.ts";
import type { WebchatConnection, WebchatConnectionStore } from "./connections.ts";
import { appendOnce, type ConversationLimits, STREAM_ID } from "./conversation.ts";
import { toWebchatError, WebchatError } from "./errors.ts";
import { type EventStreamSettings, streamConversation } from "./events.ts";
import { authenticate, baseSecurityHeaders, checkOrigin, pageSecurityHeaders, presentedToken, sessionCookie } from "./http.ts";
import {
  type AnonymousLimits,
  addressCounter,
  checkCounters,
  connectionMessages,
  createStreamCaps,
  type RateDecision,
  type VisitorRateLimit,
  visitorMessages,
} from "./limits.ts";
import type { LiveReplies } from "./live-replies.ts";
import { ASSETS, renderNotFound, renderPage } from "./page.ts";
import type { SessionSigner } from "./session.ts";
import type { StreamHub } from "./stream-hub.ts";

/** Limits and timings of the web chat; every field has a default in `index.ts`. */
export interface WebchatSettings {
  /** Longest message text, in characters. */
  maxTextLength: number;
  rate: VisitorRateLimit;
  /** What one client address may cost: sessions, messages, open streams. */
  anonymous: AnonymousLimits;
  conversation: ConversationLimits;
  events: EventStreamSettings;
  /** Server-sent-event streams one gateway process serves at once. */
  maxStreams: number;
}

/** What the web chat routes need. */
export interface WebchatIngressOptions {
  connections: WebchatConnectionStore;
  sessions: SessionSigner;
  publisher: InboundPublisher;
  redis: Redis;
  hub: StreamHub;
  /** Replies as they are written (`delta` events); without it a reply shows when complete. */
  live?: LiveReplies;
  metrics: ChannelMetrics;
  log: Logger;
  settings: WebchatSettings;
}

type Params = { connectionId: string };
type Route = FastifyRequest<{ Params: Params }>;

// The JSON body is small: a message id and at most a few thousand characters.
const BODY_LIMIT = 64 * 1024;
const CLIENT_MESSAGE_ID = /^[A-Za-z0-9_-]{8,64}$/;

/**
 * The web chat, per connection under `/webchat/<connectionId>/`:
 * - `GET /` the page; `GET /chat.js`, `/chat.css`, `/embed.js` its files;
 * - `POST /session` a signed session for the visitor (new, or renewed from the one presented);
 * - `POST /messages` a visitor's message, published to `konstruct.inbound.webchat`;
 * - `GET /events` the conversation as server-sent events, resumable with `Last-Event-ID`;
 * - `GET /config` the agent's name for the embed script, readable only by allowed origins.
 * Errors are JSON `{ error: <code>, message: <what to do> }`.
 */
export const webchatIngress: FastifyPluginAsync<WebchatIngressOptions> = async (app, options) => {
  const { connections, sessions, publisher, redis, hub, metrics, settings } = options;
  const log = options.log.child({ channel: "webchat" });
  const results = new WeakMap<FastifyRequest, string>();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: BODY_LIMIT }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (cause) {
      done(new WebchatError("message_invalid", "The request body is not valid JSON.", { cause }), undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const failure = toWebchatError(error);
    if (failure.status >= 500) log.error({ err: error, url: request.url }, "web chat request failed");
    results.set(request, failure.code);
    if (failure.retryAfterSeconds !== undefined) reply.header("retry-after", String(failure.retryAfterSeconds));
    baseSecurityHeaders(reply);
    return reply.status(failure.status).send({ error: failure.code, message: failure.message });
  });

  app.addHook("onResponse", async (request, reply) => {
    const result = results.get(request);
    if (result) metrics.webhooks.inc({ channel: "webchat", result });
    else if (reply.statusCode >= 400) metrics.webhooks.inc({ channel: "webchat", result: String(reply.statusCode) });
  });

  const connectionOf = async (connectionId: string): Promise<WebchatConnection> => {
    let connection: WebchatConnection | null;
    try {
      connection = await connections.get(connectionId);
    } catch (cause) {
      log.error({ err: cause, connectionId }, "could not load the web chat connection");
      throw new WebchatError("unavailable", "The chat is unavailable right now; try again in a moment.", { cause });
    }
    if (!connection) throw new WebchatError("not_found", "There is no web chat at this address; check the link.");
    return connection;
  };

  /** Loads the connection and applies the origin check that every API route shares. */
  const api = async (request: Route, reply: FastifyReply): Promise<WebchatConnection> => {
    baseSecurityHeaders(reply);
    reply.header("cache-control", "no-store");
    const connection = await connectionOf(request.params.connectionId);
    checkOrigin(request, reply, connection);
    return connection;
  };

  const caps = createStreamCaps(settings.anonymous.streams);

  /** Refuses with 429 and Retry-After, saying what to do, when a counter is over its limit. */
  const enforce = (decision: RateDecision, what: "sessions" | "messages") => {
    if (decision.allowed) return;
    log.debug({ counter: decision.counter, reason: "rate_limited" }, "web chat request refused");
    const wait = decision.retryAfterSeconds;
    const message =
      decision.counter === "connection"
        ? `This chat is receiving more messages than it can take right now; wait ${wait} s and send again.`
        : what === "sessions"
          ? `Too many chat sessions were opened from your network; wait ${wait} s and reload the page.`
          : `You are sending messages too quickly; wait ${wait} s and send again.`;
    throw new WebchatError("rate_limited", message, { retryAfterSeconds: wait });
  };

  const redisCall = async <T>(doing: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (cause) {
      log.error({ err: cause }, `Redis failed while ${doing}`);
      throw new WebchatError("unavailable", "The chat is unavailable right now; try again in a moment.", { cause });
    }
  };

  app.get<{ Params: Params }>("/webchat/:connectionId", async (request, reply) => {
    const query = request.url.indexOf("?");
    return reply.redirect(
      `/webchat/${encodeURIComponent(request.params.connectionId)}/${query >= 0 ? request.url.slice(query) : ""}`,
      308,
    );
  });

  app.get<{ Params: Params }>("/webchat/:connectionId/", async (request, reply) => {
    let connection: WebchatConnection;
    try {
      connection = await connectionOf(request.params.connectionId);
    } catch (error) {
      const failure = toWebchatError(error);
      pageSecurityHeaders(reply, null);
      return reply.status(failure.status).type("text/html; charset=utf-8").send(renderNotFound(failure.message));
    }
    pageSecurityHeaders(reply, connection);
    return reply.type("text/html; charset=utf-8").send(renderPage(connection, { maxTextLength: settings.maxTextLength }));
  });

  for (const [name, file] of Object.entries(ASSETS)) {
    app.get<{ Params: Params }>(`/webchat/:connectionId/${name}`, async (request, reply) => {
      baseSecurityHeaders(reply);
      reply.header("etag", file.etag);
      reply.header("cache-control", "public, max-age=300");
      // The embed script is loaded by other sites' pages; everything else only by ours.
      reply.header("cross-origin-resource-policy", name === "embed.js" ? "cross-origin" : "same-origin");
      if (request.headers["if-none-match"] === file.etag) return reply.status(304).send();
      return reply.type(file.contentType).send(file.body);
    });
  }

  app.options<{ Params: Params }>("/webchat/:connectionId/*", async (request, reply) => {
    await api(request, reply);
    reply.header("access-control-allow-methods", "GET, POST");
    reply.header("access-control-allow-headers", "authorization, content-type, last-event-id");
    reply.header("access-control-max-age", "600");
    return reply.status(204).send();
  });

  app.get<{ Params: Params }>("/webchat/:connectionId/config", async (request, reply) => {
    const connection = await api(request, reply);
    return {
      agent: connection.agent ?? { displayName: "Assistant", role: "" },
      maxTextLength: settings.maxTextLength,
    };
  });

  app.post<{ Params: Params }>("/webchat/:connectionId/session", async (request, reply) => {
    const connection = await api(request, reply);
    // Before anything is signed or stored: a session is free to make, so its rate is per address.
    const counters = [addressCounter(connection, request.ip, "sessions", settings.anonymous.sessionsPerAddress)];
    enforce(await redisCall("counting the address's sessions", () => checkCounters(redis, counters)), "sessions");
    const presented = presentedToken(request);
    const verified = sessions.verify(presented, connection.connectionId);
    // A valid session is renewed (same visitor, same conversation); anything else starts a new one
    // and says why, so the page can tell the visitor their earlier conversation is gone.
    const { session, token } = verified.ok ? sessions.renew(verified.session) : sessions.issue(connection.connectionId);
    reply.header("set-cookie", sessionCookie(request, connection.connectionId, token, session.expiresAt));
    results.set(request, verified.ok ? "session_renewed" : "session_new");
    return {
      token,
      visitorId: session.visitorId,
      expiresAt: new Date(session.expiresAt).toISOString(),
      resumed: verified.ok,
      previous: verified.ok || presented === undefined ? null : verified.reason,
      agent: connection.agent ?? { displayName: "Assistant", role: "" },
      maxTextLength: settings.maxTextLength,
    };
  });

  app.post<{ Params: Params; Body: unknown }>(
    "/webchat/:connectionId/messages",
    { bodyLimit: BODY_LIMIT },
    async (request, reply) => {
      const connection = await api(request, reply);
      const session = authenticate(request, sessions, connection.connectionId);
      const { clientMessageId, text } = parseBody(request.body, settings.maxTextLength);
      const ref = { tenantId: connection.tenantId, connectionId: connection.connectionId, visitorId: session.visitorId };

      // Address first, then visitor, then the connection's budget: a flood from one address is
      // refused by its own counter and never spends what the tenant's other visitors share.
      const counters = [
        addressCounter(ref, request.ip, "messages", settings.anonymous.messagesPerAddress),
        visitorMessages(ref, settings.rate),
        ...(connection.messagesPerMinute > 0 ? [connectionMessages(ref, connection.messagesPerMinute)] : []),
      ];
      enforce(await redisCall("counting the visitor's messages", () => checkCounters(redis, counters)), "messages");

      const now = new Date();
      // The visitor's id is part of the delivery id: client message ids are chosen by browsers, and
      // one visitor must not be able to take another's de-duplication keys.
      const deliveryId = `${session.visitorId}.${clientMessageId}`;
      const message: KonstructMessage = {
        id: randomUUID(),
        tenantId: null,
        channelType: "webchat",
        channel: {
          connectionId: connection.connectionId,
          workspaceId: connection.externalId,
          channelId: session.visitorId,
          messageId: deliveryId,
          isDirect: true,
          botUserId: null,
        },
        sender: { id: session.visitorId, displayName: null, isBot: false, botId: null },
        content: { text, mentions: [], attachments: [] },
        threadId: session.visitorId,
        timestamp: now.toISOString(),
        deliveryId,
      };

      const { duplicate } = await publishInbound(publisher, metrics, message);
      // After the publish, so a message the queue refused never shows as sent; once per client id,
      // so a retried request adds no second copy.
      await redisCall("recording the visitor's message", () =>
        appendOnce(redis, ref, { kind: "visitor", messageId: clientMessageId, text, at: now.getTime() }, settings.conversation),
      );
      results.set(request, duplicate ? "duplicate" : "accepted");
      return reply.status(202).send({ accepted: true, messageId: clientMessageId, duplicate });
    },
  );

  app.get<{ Params: Params; Querystring: { lastEventId?: string } }>("/webchat/:connectionId/events", async (request, reply) => {
    const connection = await api(request, reply);
    const session = authenticate(request, sessions, connection.connectionId);
    if (hub.size >= settings.maxStreams) {
      throw new WebchatError("unavailable", "The chat is busy right now; it will reconnect in a moment.");
    }
    const ref = { tenantId: connection.tenantId, connectionId: connection.connectionId, visitorId: session.visitorId };
    const place = caps.acquire(ref, request.ip);
    if (!place.ok) {
      log.debug({ cap: place.cap, reason: "too_many_streams" }, "web chat event stream refused");
      throw new WebchatError("rate_limited", "Too many chat windows are open; close one and this one reconnects.", {
        retryAfterSeconds: 5,
      });
    }
    const header = request.headers["last-event-id"];
    const resumeFrom = (typeof header === "string" ? header : undefined) ?? request.query.lastEventId;
    const afterId = resumeFrom && STREAM_ID.test(resumeFrom) ? resumeFrom : "0-0";
    results.set(request, "stream");
    try {
      await streamConversation(request, reply, {
        hub,
        ...(options.live ? { live: options.live } : {}),
        redis,
        ref,
        afterId,
        sessionExpiresAt: session.expiresAt,
        settings: settings.events,
        log,
      });
    } catch (error) {
      place.release();
      throw error;
    }
    if (reply.raw.destroyed || reply.raw.writableEnded) place.release();
    else reply.raw.once("close", place.release);
  });
};

/** Validates a message body, with errors a person can act on. */
function parseBody(body: unknown, maxTextLength: number): { clientMessageId: string; text: string } {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new WebchatError("message_invalid", 'Send a JSON object: {"clientMessageId": "…", "text": "…"}.');
  }
  const { clientMessageId, text } = body as Record<string, unknown>;
  if (typeof clientMessageId !== "string" || !CLIENT_MESSAGE_ID.test(clientMessageId)) {
    throw new WebchatError(
      "message_invalid",
      "clientMessageId must be 8-64 characters of letters, digits, - and _, new for each message.",
    );
  }
  if (typeof text !== "string") throw new WebchatError("message_invalid", "text must be a string.");
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new WebchatError("message_invalid", "Write a message before sending.");
  const length = [...trimmed].length;
  if (length > maxTextLength) {
    throw new WebchatError(
      "message_too_long",
      `Messages can be at most ${maxTextLength} characters; this one has ${length}. Shorten it or split it into several.`,
    );
  }
  return { clientMessageId, text: trimmed };
}
