import { keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/** One entry of a visitor's conversation, as stored in Redis and sent to the page. */
export type ConversationEntry =
  | { kind: "visitor"; messageId: string; text: string; at: number }
  | {
      kind: "agent";
      replyId: string;
      /** The visitor message this answers (its client message id). */
      inReplyTo: string;
      text: string;
      at: number;
      /** `answer` from the model; `notice` (rate limit) or `apology` (model failure) from the platform. */
      replyKind: "answer" | "notice" | "apology";
      agentName: string | null;
    };

/** Where a conversation lives: one Redis stream per visitor, shared by every gateway replica. */
export interface ConversationRef {
  tenantId: string;
  connectionId: string;
  visitorId: string;
}

/** Bounds of one conversation stream. */
export interface ConversationLimits {
  /** Entries kept (approximately: `MAXLEN ~`). */
  maxEntries: number;
  /** Idle time after which the whole conversation is forgotten. */
  ttlMs: number;
}

export const DEFAULT_CONVERSATION_LIMITS: ConversationLimits = { maxEntries: 500, ttlMs: 24 * 60 * 60_000 };

/** `<tenantId>:webchat:<connectionId>:<visitorId>` — a Redis stream; its entry ids are the SSE event ids. */
export function conversationKey(ref: ConversationRef): string {
  return redisKey(ref.tenantId, "webchat", ref.connectionId, ref.visitorId);
}

function seenKey(ref: ConversationRef, id: string): string {
  return redisKey(ref.tenantId, "webchat", ref.connectionId, ref.visitorId, "seen", keyPart(id));
}

// KEYS[1] stream, KEYS[2] seen marker; ARGV[1] entry JSON, ARGV[2] max entries, ARGV[3] ttl ms.
// One script, so a redelivered reply or a retried message is appended exactly once even when two
// gateway replicas handle it at the same moment.
const APPEND_ONCE = `
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return false end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id`;

/** Appends an entry unless one with the same id was appended before; returns the stream id, or null for a repeat. */
export async function appendOnce(
  redis: Redis,
  ref: ConversationRef,
  entry: ConversationEntry,
  limits: ConversationLimits = DEFAULT_CONVERSATION_LIMITS,
): Promise<string | null> {
  const id = entry.kind === "visitor" ? `m.${entry.messageId}` : `r.${entry.replyId}`;
  const result = await redis.eval(
    APPEND_ONCE,
    2,
    conversationKey(ref),
    seenKey(ref, id),
    JSON.stringify(entry),
    String(limits.maxEntries),
    String(limits.ttlMs),
  );
  return typeof result === "string" ? result : null;
}

/** The largest stream entry a reader parses and forwards to a page; larger ones are skipped. */
export const MAX_ENTRY_CHARS = 64 * 1024;

/** Parses the fields of one stream entry; null for anything this version did not write, or oversized. */
export function parseEntry(fields: readonly string[]): ConversationEntry | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== "e") continue;
    if ((fields[i + 1] as string).length > MAX_ENTRY_CHARS) return null;
    try {
      const value = JSON.parse(fields[i + 1] as string) as ConversationEntry;
      return value && (value.kind === "visitor" || value.kind === "agent") ? value : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** Redis stream ids are `<ms>-<seq>`; anything else from a client is ignored. */
export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** Orders two stream ids. */
export function compareStreamIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
