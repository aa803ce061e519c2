import { decodeReplyDelta, type ReplyDelta, replyStreamWildcard, tenantOfReplyStream } from "@konstruct/core";
import type { Logger } from "pino";
import type { ReplyDeltaFeed } from "../gateway-channel.ts";
import { type ConversationRef, conversationKey } from "./conversation.ts";

/** Replies as they are written, for the event streams of this process. */
export interface LiveReplies {
  /** Hands `onDelta` every delta of one visitor's conversation until the returned function is called. */
  listen(ref: ConversationRef, onDelta: (delta: ReplyDelta) => void): () => void;
  /** Conversations listened to right now. */
  readonly size: number;
  close(): void;
}

/**
 * One core NATS subscription per gateway process to every tenant's web chat deltas
 * (`konstruct.stream.*.webchat`), fanned out to the event streams open here. Every replica
 * receives every delta and keeps those of the conversations it serves; the others cost a map
 * look-up, and nothing is decoded while nobody listens.
 *
 * A delta reaches a stream only when its tenant — taken from the subject, and required to match
 * the body's — with its connection and visitor name that stream's conversation, whose reference
 * came from the visitor's verified session: a delta of one tenant cannot land in another's
 * conversation, whatever its body says.
 */
export function createLiveReplies(options: { feed: ReplyDeltaFeed; log: Logger }): LiveReplies {
  const { log } = options;
  const listeners = new Map<string, Set<(delta: ReplyDelta) => void>>();
  const subscription = options.feed.subscribe(replyStreamWildcard("webchat"), (subject, data) => {
    if (listeners.size === 0) return;
    const tenantId = tenantOfReplyStream(subject);
    let delta: ReplyDelta;
    try {
      delta = decodeReplyDelta(data);
    } catch (error) {
      log.debug({ err: error, subject, reason: "invalid" }, "reply delta dropped");
      return;
    }
    if (tenantId === null || delta.tenantId !== tenantId || delta.channelType !== "webchat") {
      log.debug({ subject, replyId: delta.replyId, reason: "subject_mismatch" }, "reply delta dropped");
      return;
    }
    let key: string;
    try {
      key = conversationKey({ tenantId, connectionId: delta.connectionId, visitorId: delta.target.channelId });
    } catch {
      return;
    }
    for (const listener of listeners.get(key) ?? []) listener(delta);
  });
  return {
    listen(ref, onDelta) {
      const key = conversationKey(ref);
      let set = listeners.get(key);
      if (!set) {
        set = new Set();
        listeners.set(key, set);
      }
      set.add(onDelta);
      return () => {
        const current = listeners.get(key);
        if (!current?.delete(onDelta)) return;
        if (current.size === 0) listeners.delete(key);
      };
    },
    get size() {
      return listeners.size;
    },
    close() {
      listeners.clear();
      subscription.unsubscribe();
    },
  };
}
