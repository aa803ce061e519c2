import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { RedisKeyError } from "./errors.ts";
import { assertTenantId } from "./ids.ts";

/**
 * Every Redis key and pub/sub channel is `<tenantId>:<type>:<discriminator>`, built here and
 * nowhere else. The tenant's ACL user may read `<tenantId>:*`, write only the types in
 * {@link TENANT_WRITABLE_KEY_TYPES}, and use the channels `&<tenantId>:*`, so a key that did
 * not start with the tenant's own id would be refused by Redis for that tenant — and, worse,
 * reachable by another. Types and discriminator parts are restricted to characters that are
 * neither key separators nor glob metacharacters.
 */
const TYPE = /^[a-z][a-z0-9-]{0,31}$/;
const PART = /^[A-Za-z0-9._@+=-]{1,200}$/;

/** The key kinds Konstruct stores; adding one is a deliberate change here. */
export const REDIS_KEY_TYPES = [
  "ratelimit",
  "ratelimit-notice",
  "idempotency",
  "engaged",
  "session",
  "concurrency",
  "botloop",
  "tokens",
  "webchat",
  "cache",
  "probe",
  // A channel's record of where to answer a conversation (Teams' service URL per conversation).
  "conversation",
] as const;
export type RedisKeyType = (typeof REDIS_KEY_TYPES)[number];

/**
 * The key types a tenant's own Redis user may write: `cache`, which no service reads. Every
 * other type holds what the platform decides with (rate limits, concurrency slots, token
 * budgets, idempotency records, conversation memory, web chat sessions), so the tenant may
 * read those keys but not change them. A service must never trust a key of a type listed here.
 */
export const TENANT_WRITABLE_KEY_TYPES = ["cache"] as const satisfies readonly RedisKeyType[];

function checkType(type: string): void {
  if (!TYPE.test(type) || !(REDIS_KEY_TYPES as readonly string[]).includes(type)) {
    throw new RedisKeyError(`unknown Redis key type ${JSON.stringify(type)}; add it to REDIS_KEY_TYPES`);
  }
}

function checkParts(parts: readonly string[]): void {
  if (parts.length === 0) throw new RedisKeyError("a Redis key needs at least one discriminator part");
  for (const part of parts) {
    if (typeof part !== "string" || !PART.test(part)) {
      throw new RedisKeyError(
        `invalid Redis key part ${JSON.stringify(String(part).slice(0, 60))}: use 1-200 characters of A-Z a-z 0-9 . _ @ + = -`,
      );
    }
  }
}

/** Builds the tenant-scoped key `<tenantId>:<type>:<part>[:<part>…]`. */
export function redisKey(tenantId: string, type: RedisKeyType, ...parts: string[]): string {
  assertTenantId(tenantId);
  checkType(type);
  checkParts(parts);
  return `${tenantId}:${type}:${parts.join(":")}`;
}

/** The pub/sub channel name for a tenant; same shape and rules as keys. */
export function redisChannel(tenantId: string, type: RedisKeyType, ...parts: string[]): string {
  return redisKey(tenantId, type, ...parts);
}

/** The glob of every key and channel of a tenant: `<tenantId>:*`. */
export function tenantKeyPattern(tenantId: string): string {
  return `${assertTenantId(tenantId)}:*`;
}

/**
 * Deletes every key matching `pattern` (a {@link tenantKeyPattern}, when a tenant goes), a page
 * of SCAN at a time with UNLINK, so no single command blocks the server. Returns how many went.
 */
export async function deleteKeysMatching(redis: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}

/** The globs of the keys a tenant's own Redis user may write: `<tenantId>:cache:*`, … */
export function tenantWritableKeyPatterns(tenantId: string): string[] {
  assertTenantId(tenantId);
  return TENANT_WRITABLE_KEY_TYPES.map((type) => `${tenantId}:${type}:*`);
}

/**
 * Turns an arbitrary external id (a Slack thread ts, a visitor id) into a valid key part:
 * itself when it is one, else its base64url, else (too long for that) its SHA-256. Hashing, not
 * truncating: two long ids that share a prefix must not share a key.
 */
export function keyPart(value: string): string {
  if (PART.test(value)) return value;
  const encoded = Buffer.from(value, "utf8").toString("base64url");
  if (encoded.length <= 190) return `b64.${encoded}`;
  return `h.${createHash("sha256").update(value, "utf8").digest("base64url")}`;
}
