import { createHash, timingSafeEqual } from "node:crypto";

/**
 * True when `presented` is the `expected` secret (a webhook secret token, a verify token, a
 * signature). Both sides are hashed first, so the comparison takes the same time whatever the
 * lengths, and a missing value compares like a wrong one; an empty `expected` (an unknown
 * connection) matches nothing.
 */
export function secretEquals(expected: string, presented: string | undefined): boolean {
  if (!expected || presented === undefined) return false;
  return timingSafeEqual(createHash("sha256").update(expected).digest(), createHash("sha256").update(presented).digest());
}
