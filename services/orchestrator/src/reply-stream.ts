import type { ReplyDelta } from "@konstruct/core";

/** Where a reply's deltas go, and the reply they belong to. */
export interface ReplyStreamOptions {
  /** Publishes one delta (core NATS, best effort: it must not throw). */
  publish: (delta: ReplyDelta) => void;
  /** The reply's id and address, as its OutboundReply will carry them. */
  reply: Pick<ReplyDelta, "replyId" | "tenantId" | "channelType" | "connectionId" | "target">;
  /** The work item's delivery count: a redelivery after a crash starts a new attempt, whatever the pool counts. */
  deliveryCount: number;
  /**
   * When this run started (ms since the epoch), after the delivery count in the attempt: NATS
   * does not always count a delivery to a client that vanished, so the run that takes over from
   * a SIGKILLed one may carry the same delivery count, and only its later start tells it apart.
   */
  startedAt: number;
  /** Least time between two deltas of one reply; pieces written meanwhile go out together. */
  intervalMs: number;
}

/** A reply being written: pieces in, deltas out. */
export interface ReplyStream {
  /** A piece of the answer from the pool's call number `attempt` (a new number starts the text over). */
  push(text: string, attempt: number): void;
  /** Sends what is still pending, and takes no more. */
  close(): void;
}

/** Deltas end where an OutboundReply's text does (the reply schema's limit): beyond it the page waits for the final reply. */
const MAX_STREAMED_CHARS = 40_000;

/**
 * Turns a model's pieces (often one token each, tens per second) into deltas, throttled on the
 * leading edge: a piece that comes after a quiet `intervalMs` goes out at once — the first token
 * above all, which is what the reader waits for — and pieces that come sooner wait together for
 * the end of the interval. A long answer is then at most 1000/`intervalMs` messages a second,
 * not one per token.
 */
export function createReplyStream(options: ReplyStreamOptions): ReplyStream {
  const { publish, reply, deliveryCount, startedAt, intervalMs } = options;
  let attempt = 0;
  let offset = 0;
  let pending = "";
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending.length === 0) return;
    const text = pending.slice(0, MAX_STREAMED_CHARS - offset);
    pending = "";
    if (text.length === 0) return;
    publish({ ...reply, attempt: `${deliveryCount}.${startedAt}.${attempt}`, offset, text });
    offset += text.length;
    lastSentAt = performance.now();
  };

  return {
    push(text, callAttempt) {
      if (closed || text.length === 0) return;
      if (callAttempt !== attempt) {
        // A retry or a fallback model: its text replaces what the reader has, from offset 0.
        if (timer) clearTimeout(timer);
        timer = null;
        attempt = callAttempt;
        offset = 0;
        pending = "";
        lastSentAt = Number.NEGATIVE_INFINITY;
      }
      pending += text;
      if (timer) return;
      const wait = lastSentAt + intervalMs - performance.now();
      if (wait <= 0) flush();
      else timer = setTimeout(flush, wait);
    },
    close() {
      if (closed) return;
      flush();
      closed = true;
    },
  };
}
