import type { FastifyReply, FastifyRequest } from "fastify";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { type ConversationEntry, type ConversationRef, conversationKey, parseEntry } from "./conversation.ts";
import type { LiveReplies } from "./live-replies.ts";
import type { HubEntry, StreamHub } from "./stream-hub.ts";

/** Timing of one server-sent-events stream. */
export interface EventStreamSettings {
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
  /** The stream ends after this (or when the session expires); the page reconnects with its last id. */
  maxStreamMs: number;
  /** A visitor message unanswered for this long no longer shows the agent as typing. */
  typingTimeoutMs: number;
  /** Bytes queued for a slow client before the stream is cut (it reconnects and replays). */
  maxBufferedBytes: number;
}

export const DEFAULT_EVENT_STREAM_SETTINGS: EventStreamSettings = {
  heartbeatMs: 15_000,
  maxStreamMs: 30 * 60_000,
  typingTimeoutMs: 2 * 60_000,
  maxBufferedBytes: 1024 * 1024,
};

/** Unanswered visitor messages, which is what "the agent is typing" means here. */
function pendingReplies(timeoutMs: number) {
  const pending = new Map<string, number>();
  return {
    apply(entry: ConversationEntry): void {
      if (entry.kind === "visitor") pending.set(entry.messageId, entry.at);
      else pending.delete(entry.inReplyTo);
    },
    typing(now: number): boolean {
      for (const at of pending.values()) if (now - at < timeoutMs) return true;
      return false;
    },
  };
}

/**
 * Streams one visitor's conversation as server-sent events: every entry after `afterId`
 * (`Last-Event-ID`, or the whole conversation on a first connect) as `message` events whose
 * SSE ids are the Redis stream ids, then new entries as they are appended by any replica;
 * `typing` events whenever the agent starts or stops working on an answer; a heartbeat comment.
 * With `live`, a reply shows as it is written: `delta` events (no SSE id — they are not part of
 * the conversation, so a reconnect neither replays them nor resumes from them) carry the reply's
 * id, the attempt, the offset and the new text; the `message` event of the same `replyId`
 * replaces them. A new attempt starts the text over (a retry, or a redelivery after a crash).
 */
export async function streamConversation(
  request: FastifyRequest,
  reply: FastifyReply,
  options: {
    hub: StreamHub;
    live?: LiveReplies;
    redis: Redis;
    ref: ConversationRef;
    afterId: string;
    sessionExpiresAt: number;
    settings: EventStreamSettings;
    log: Logger;
  },
): Promise<void> {
  const { hub, redis, ref, afterId, settings } = options;
  const key = conversationKey(ref);
  const pending = pendingReplies(settings.typingTimeoutMs);

  // The typing state at the resume point: a reconnecting page may have missed the question
  // whose answer is still being written.
  if (afterId !== "0-0") {
    const recent = (await redis.xrevrange(key, afterId, "-", "COUNT", 50)) as [string, string[]][];
    for (const [, fields] of recent.reverse()) {
      const entry = parseEntry(fields);
      if (entry) pending.apply(entry);
    }
  }

  reply.hijack();
  const res = reply.raw;
  const headers: Record<string, string | number | string[]> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
  res.writeHead(200, {
    ...headers,
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    // nginx (the usual Ingress) would otherwise buffer the stream.
    "x-accel-buffering": "no",
    // A stream's connection is not reused: when the stream ends (shutdown, lifetime) the socket
    // goes too, so a closing server does not wait out keep-alive on it.
    connection: "close",
  });
  res.write("retry: 2000\n\n");

  let typing: boolean | null = null;
  const sendTyping = () => {
    const now = pending.typing(Date.now());
    if (now === typing) return;
    typing = now;
    res.write(`event: typing\ndata: ${JSON.stringify({ typing: now })}\n\n`);
  };
  sendTyping();

  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    subscription.unsubscribe();
    stopListening?.();
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    if (!res.writableEnded) res.end();
    // A client that stopped reading (a paused or half-dead socket) would hold the server's
    // shutdown open; the stream's socket is never reused, so it goes after a grace second.
    const socket = res.socket;
    if (socket && !socket.destroyed) setTimeout(() => socket.destroy(), 1_000).unref();
  };

  const subscription = hub.subscribe(
    key,
    afterId,
    (entries: HubEntry[]) => {
      if (closed) return;
      for (const { id, fields } of entries) {
        const entry = parseEntry(fields);
        if (!entry) continue;
        pending.apply(entry);
        res.write(`id: ${id}\nevent: message\ndata: ${JSON.stringify({ ...entry, id })}\n\n`);
      }
      sendTyping();
      if (res.writableLength > settings.maxBufferedBytes) {
        options.log.info({ connectionId: ref.connectionId }, "web chat client too slow; closing its stream");
        close();
      }
    },
    close,
  );
  // The orchestrator addresses a reply to the gateway's message id `<visitorId>.<clientMessageId>`; the page knows the latter.
  const visitorPrefix = `${ref.visitorId}.`;
  const stopListening = options.live?.listen(ref, (delta) => {
    if (closed) return;
    const to = delta.target.inReplyToMessageId;
    const inReplyTo = to.startsWith(visitorPrefix) ? to.slice(visitorPrefix.length) : to;
    const { replyId, attempt, offset, text } = delta;
    res.write(`event: delta\ndata: ${JSON.stringify({ replyId, inReplyTo, attempt, offset, text })}\n\n`);
    if (res.writableLength > settings.maxBufferedBytes) close();
  });
  const heartbeat = setInterval(() => {
    res.write(": ping\n\n");
    sendTyping();
  }, settings.heartbeatMs);
  const lifetime = setTimeout(close, Math.max(1_000, Math.min(settings.maxStreamMs, options.sessionExpiresAt - Date.now())));
  // The response's close is the one that fires when the client goes away mid-stream.
  res.on("close", close);
  res.on("error", close);
  request.raw.socket?.on("close", close);
}
