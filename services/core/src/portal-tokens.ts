import { createHash, randomBytes } from "node:crypto";

/** Portal roles, strongest first: owner (people and everything), admin (agents, channels), member (read). */
export const PORTAL_ROLES = ["owner", "admin", "member"] as const;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * A new secret for a portal invitation link or session cookie: 256 random bits, base64url.
 * The database keeps only {@link portalTokenDigest} of it.
 */
export function newPortalToken(): string {
  return randomBytes(32).toString("base64url");
}

/** True when `value` has the shape of a {@link newPortalToken} token (checked before hashing input). */
export function isPortalToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** What the database stores of a token: its SHA-256 (32 bytes). */
export function portalTokenDigest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}
