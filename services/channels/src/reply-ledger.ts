import { keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/**
 * What the ledger knows about one reply id.
 * - `pending`: a worker claimed it at `at` and may be posting right now.
 * - `uncertain`: a post was attempted and failed in a way that does not tell whether it landed.
 * - `posted`: the channel confirmed the post.
 */
export type LedgerEntry =
  | { state: "pending"; at: number; owner: string }
  | { state: "uncertain"; at: number; owner: string }
  | { state: "posted"; at: number; messageId: string | null };

/** The outcome of a claim: ours to post, or someone's earlier record (with its raw value for compare-and-set). */
export type ReplyClaim = { claimed: true; owner: string } | { claimed: false; entry: LedgerEntry; raw: string };

/** At-most-once bookkeeping of outbound replies, keyed per tenant and reply id. */
export interface ReplyLedger {
  /** Claims a reply id for posting, unless a record exists. */
  claim(tenantId: string, replyId: string): Promise<ReplyClaim>;
  /** Takes over a stale claim if the record is still exactly `raw`; null when another worker moved first. */
  takeOver(tenantId: string, replyId: string, raw: string): Promise<string | null>;
  /** Records a confirmed post. */
  markPosted(tenantId: string, replyId: string, messageId: string | null): Promise<void>;
  /** Records that our attempt may or may not have landed; the next delivery verifies before posting. */
  markUncertain(tenantId: string, replyId: string, owner: string): Promise<void>;
  /** Drops our claim after the channel refused the post outright, so a retry may post. */
  release(tenantId: string, replyId: string, owner: string): Promise<void>;
}

// Replies live in a stream kept for a day; their records outlive any redelivery of them.
const RECORD_TTL_MS = 3 * 24 * 60 * 60_000;

// KEYS[1] key, ARGV[1] expected value, ARGV[2] new value (empty: delete), ARGV[3] ttl ms.
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

// KEYS[1] key, ARGV[1] owner, ARGV[2] new value, ARGV[3] ttl ms: replace only a claim we own.
const SET_IF_OWNER = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, entry = pcall(cjson.decode, raw)
if not ok or entry.owner ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

/** `<tenantId>:idempotency:outbound:<replyId parts>` — the reply id's own `:` separators kept readable. */
export function replyKey(tenantId: string, replyId: string): string {
  return redisKey(tenantId, "idempotency", "outbound", ...replyId.split(":").map((part) => keyPart(part || "_")));
}

/** A {@link ReplyLedger} in Redis: `SET NX` to claim, Lua compare-and-set for every later change. */
export function createRedisReplyLedger(redis: Redis, options: { now?: () => number; newOwner?: () => string } = {}): ReplyLedger {
  const now = options.now ?? Date.now;
  const newOwner = options.newOwner ?? (() => crypto.randomUUID());
  const ttl = String(RECORD_TTL_MS);
  return {
    async claim(tenantId, replyId) {
      const key = replyKey(tenantId, replyId);
      for (let attempt = 0; attempt < 3; attempt++) {
        const owner = newOwner();
        const entry: LedgerEntry = { state: "pending", at: now(), owner };
        if ((await redis.set(key, JSON.stringify(entry), "PX", RECORD_TTL_MS, "NX")) === "OK") return { claimed: true, owner };
        const raw = await redis.get(key);
        // The record expired between SET and GET: claim again.
        if (raw !== null) return { claimed: false, entry: JSON.parse(raw) as LedgerEntry, raw };
      }
      throw new Error(`reply ${replyId}: the idempotency record kept changing; retry later`);
    },
    async takeOver(tenantId, replyId, raw) {
      const owner = newOwner();
      const entry: LedgerEntry = { state: "pending", at: now(), owner };
      const done = await redis.eval(COMPARE_AND_SET, 1, replyKey(tenantId, replyId), raw, JSON.stringify(entry), ttl);
      return done === 1 ? owner : null;
    },
    async markPosted(tenantId, replyId, messageId) {
      const entry: LedgerEntry = { state: "posted", at: now(), messageId };
      await redis.set(replyKey(tenantId, replyId), JSON.stringify(entry), "PX", RECORD_TTL_MS);
    },
    async markUncertain(tenantId, replyId, owner) {
      const entry: LedgerEntry = { state: "uncertain", at: now(), owner };
      await redis.eval(SET_IF_OWNER, 1, replyKey(tenantId, replyId), owner, JSON.stringify(entry), ttl);
    },
    async release(tenantId, replyId, owner) {
      await redis.eval(SET_IF_OWNER, 1, replyKey(tenantId, replyId), owner, "", ttl);
    },
  };
}
