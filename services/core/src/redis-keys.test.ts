import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RedisKeyError, TenantIdError } from "./errors.ts";
import { UUID_PATTERN } from "./ids.ts";
import { keyPart, REDIS_KEY_TYPES, redisKey, tenantKeyPattern } from "./redis-keys.ts";

const tenant = fc.uuid({ version: 4 });
const keyType = fc.constantFrom(...REDIS_KEY_TYPES);

/** Redis glob match for the patterns ACL users get (`<uuid>:*`: a literal prefix and a star). */
const matchesAcl = (pattern: string, key: string) => key.startsWith(pattern.slice(0, -1));

function tryKey(tenantId: string, type: string, parts: string[]): string | null {
  try {
    return redisKey(tenantId, type as never, ...parts);
  } catch (error) {
    if (error instanceof RedisKeyError || error instanceof TenantIdError) return null;
    throw error;
  }
}

describe("redisKey", () => {
  it("builds <tenantId>:<type>:<parts>", () => {
    expect(redisKey("0b0e8d1c-3a4f-4b5e-9c6d-7e8f9a0b1c2d", "ratelimit", "minute", "123")).toBe(
      "0b0e8d1c-3a4f-4b5e-9c6d-7e8f9a0b1c2d:ratelimit:minute:123",
    );
  });

  it("no input builds a key outside its tenant's ACL pattern, or inside another tenant's", () => {
    fc.assert(
      fc.property(
        tenant,
        tenant,
        fc.oneof(keyType, fc.string()),
        fc.array(fc.string(), { maxLength: 4 }),
        (a, b, type, parts) => {
          const key = tryKey(a, type, parts);
          if (key === null) return;
          expect(matchesAcl(tenantKeyPattern(a), key)).toBe(true);
          if (a !== b) expect(matchesAcl(tenantKeyPattern(b), key)).toBe(false);
          // No glob metacharacters or whitespace can reach Redis through a key.
          expect(key).not.toMatch(/[*?[\]{}\s\\]/);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("rejects tenant ids that are not canonical UUIDs before anything else", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !new RegExp(UUID_PATTERN).test(s)),
        (bad) => {
          expect(() => redisKey(bad, "session", "x")).toThrow(TenantIdError);
        },
      ),
    );
    expect(() => redisKey("0B0E8D1C-3A4F-4B5E-9C6D-7E8F9A0B1C2D", "session", "x")).toThrow(TenantIdError);
    expect(() => redisKey("*", "session", "x")).toThrow(TenantIdError);
  });

  it("rejects unknown types, empty discriminators and separator or glob characters", () => {
    const t = "0b0e8d1c-3a4f-4b5e-9c6d-7e8f9a0b1c2d";
    expect(() => redisKey(t, "secrets" as never, "x")).toThrow(RedisKeyError);
    expect(() => redisKey(t, "session")).toThrow(RedisKeyError);
    for (const bad of ["", "a:b", "a*", "a b", "?", "[x]", "{t}", "a\nb"]) {
      expect(() => redisKey(t, "session", bad)).toThrow(RedisKeyError);
    }
  });

  it("keyPart turns any external id into a valid part deterministically", () => {
    fc.assert(
      fc.property(tenant, fc.string({ minLength: 1 }), (t, raw) => {
        const part = keyPart(raw);
        expect(keyPart(raw)).toBe(part);
        expect(redisKey(t, "session", part).startsWith(`${t}:session:`)).toBe(true);
      }),
    );
  });

  it("keyPart hashes long ids instead of truncating them, so ids sharing a long prefix get different parts", () => {
    const prefix = "x".repeat(400);
    const a = keyPart(`${prefix}:a`);
    const b = keyPart(`${prefix}:b`);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^h\.[A-Za-z0-9_-]{43}$/);
  });
});
