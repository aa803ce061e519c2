import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** Limits of failed sign-ins, per email and per client address, within one window. */
export interface ThrottleLimits {
  perEmail: number;
  perAddress: number;
  /** The counting window, and how long a lockout lasts, in seconds. */
  windowSeconds: number;
  /** Key prefix; tests give each run its own. Default `portal:signin-failures:`. */
  keyPrefix?: string;
}

/** The sign-in throttle: counts failures, refuses while locked, forgets an email on success. */
export interface SignInThrottle {
  /** Seconds until the email or the address may try again, or 0 when neither is locked. */
  lockedFor(email: string, address: string): Promise<number>;
  /** Counts one failure for both. */
  fail(email: string, address: string): Promise<void>;
  /** Clears the email's count after a successful sign-in (the address keeps its count). */
  succeed(email: string): Promise<void>;
}

// Not tenant keys: before sign-in no tenant is known. The email is hashed so Redis never holds
// the addresses of people (nor of guesses); `portal:` never matches a tenant's `<uuid>:*` ACL.
const DEFAULT_PREFIX = "portal:signin-failures:";

/**
 * Counts failures in fixed windows that start at the first failure (INCR, then EXPIRE NX in
 * the same MULTI). A locked email is locked whether or not anyone has it, so the answer to a
 * guess never tells whether the email exists.
 */
export function createSignInThrottle(redis: Redis, limits: ThrottleLimits): SignInThrottle {
  const prefix = limits.keyPrefix ?? DEFAULT_PREFIX;
  const emailKey = (email: string) => `${prefix}email:${createHash("sha256").update(normalizeEmail(email)).digest("hex")}`;
  const addressKey = (address: string) => `${prefix}address:${address}`;
  return {
    async lockedFor(email, address) {
      const keys = [emailKey(email), addressKey(address)] as const;
      const results = await redis.multi().get(keys[0]).get(keys[1]).ttl(keys[0]).ttl(keys[1]).exec();
      const value = (i: number) => Number((results?.[i]?.[1] as string | number | null) ?? 0);
      let wait = 0;
      if (value(0) >= limits.perEmail) wait = Math.max(wait, value(2));
      if (value(1) >= limits.perAddress) wait = Math.max(wait, value(3));
      return wait;
    },
    async fail(email, address) {
      const window = limits.windowSeconds;
      const keys = [emailKey(email), addressKey(address)] as const;
      const results = await redis
        .multi()
        .incr(keys[0])
        .expire(keys[0], window, "NX")
        .incr(keys[1])
        .expire(keys[1], window, "NX")
        .exec();
      // The failure that locks starts a full lockout, however late in the window it came.
      const locking = redis.multi();
      if (Number(results?.[0]?.[1]) >= limits.perEmail) locking.expire(keys[0], window);
      if (Number(results?.[2]?.[1]) >= limits.perAddress) locking.expire(keys[1], window);
      await locking.exec();
    },
    async succeed(email) {
      await redis.del(emailKey(email));
    },
  };
}

/** Emails compare case-insensitively and without surrounding spaces, as the database's lookup does. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
