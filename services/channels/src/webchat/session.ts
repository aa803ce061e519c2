import { createHmac, hkdfSync, randomUUID, timingSafeEqual } from "node:crypto";

/** What a web chat session token proves: this visitor, on this connection, until `expiresAt`. */
export interface WebchatSession {
  connectionId: string;
  /** The visitor, and also the id of their one conversation (the message's channel and thread). */
  visitorId: string;
  /** Unix milliseconds. */
  expiresAt: number;
}

/** Why a token was refused; the page tells the visitor which. */
export type SessionFailure = "missing" | "invalid" | "expired" | "wrong_connection";

/** Signs and verifies web chat session tokens. */
export interface SessionSigner {
  /** A new visitor with a fresh token. */
  issue(connectionId: string, now?: number): { session: WebchatSession; token: string };
  /** A fresh token for a known visitor (sliding expiry). */
  renew(session: WebchatSession, now?: number): { session: WebchatSession; token: string };
  verify(
    token: string | undefined,
    connectionId: string,
    now?: number,
  ): { ok: true; session: WebchatSession } | { ok: false; reason: SessionFailure };
}

const VERSION = "wc1";
// The token carries whole seconds; the session says what the token says.
const toSecond = (ms: number) => Math.floor(ms / 1000) * 1000;
const VISITOR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The session key: `WEBCHAT_SESSION_SECRET` when set, else derived from `KONSTRUCT_SECRET_KEY`
 * with HKDF under its own label, so the encryption key itself never signs anything and an
 * installation needs no extra secret to run web chat.
 */
export function sessionSigningKey(options: { secret?: string | undefined; secretKey: { bytes: Buffer } }): Buffer {
  if (options.secret) return Buffer.from(options.secret, "utf8");
  return Buffer.from(hkdfSync("sha256", options.secretKey.bytes, Buffer.alloc(0), "konstruct webchat session v1", 32));
}

/**
 * Tokens are `wc1.<payload>.<mac>`: the payload is base64url JSON `{c, v, e}` (connection,
 * visitor, expiry in Unix seconds) and the MAC is HMAC-SHA256 over `wc1.<payload>`. The
 * connection is inside the MAC, so a token from one tenant's chat opens nothing on another's.
 * Stateless on purpose: any gateway replica verifies any token without a lookup.
 */
export function createSessionSigner(key: Buffer, options: { ttlMs?: number } = {}): SessionSigner {
  if (key.length < 16)
    throw new Error("the web chat session secret must be at least 16 bytes; set WEBCHAT_SESSION_SECRET to a long random string");
  const ttlMs = options.ttlMs ?? 24 * 60 * 60_000;
  const mac = (signed: string) => createHmac("sha256", key).update(signed).digest();

  const sign = (session: WebchatSession): string => {
    const payload = Buffer.from(
      JSON.stringify({ c: session.connectionId, v: session.visitorId, e: Math.floor(session.expiresAt / 1000) }),
    ).toString("base64url");
    const signed = `${VERSION}.${payload}`;
    return `${signed}.${mac(signed).toString("base64url")}`;
  };

  return {
    issue(connectionId, now = Date.now()) {
      const session = { connectionId, visitorId: randomUUID(), expiresAt: toSecond(now + ttlMs) };
      return { session, token: sign(session) };
    },
    renew(session, now = Date.now()) {
      const renewed = { ...session, expiresAt: toSecond(now + ttlMs) };
      return { session: renewed, token: sign(renewed) };
    },
    verify(token, connectionId, now = Date.now()) {
      if (!token) return { ok: false, reason: "missing" };
      const parts = token.split(".");
      if (parts.length !== 3 || parts[0] !== VERSION || !parts[1] || !parts[2] || token.length > 1024)
        return { ok: false, reason: "invalid" };
      const expected = mac(`${parts[0]}.${parts[1]}`);
      const given = Buffer.from(parts[2], "base64url");
      // Nothing in the payload is read before the MAC passes, and the comparison is constant-time.
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "invalid" };
      let claims: { c?: unknown; v?: unknown; e?: unknown };
      try {
        claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
      } catch {
        return { ok: false, reason: "invalid" };
      }
      if (
        typeof claims.c !== "string" ||
        typeof claims.v !== "string" ||
        !VISITOR.test(claims.v) ||
        typeof claims.e !== "number"
      ) {
        return { ok: false, reason: "invalid" };
      }
      if (claims.c !== connectionId) return { ok: false, reason: "wrong_connection" };
      const expiresAt = claims.e * 1000;
      if (expiresAt <= now) return { ok: false, reason: "expired" };
      return { ok: true, session: { connectionId: claims.c, visitorId: claims.v, expiresAt } };
    },
  };
}
