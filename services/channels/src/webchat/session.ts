import { createHash, createHmac, hkdfSync, randomUUID, timingSafeEqual } from "node:crypto";
import { isUuid } from "@konstruct/core";

/** What a web chat session token proves: this visitor, on this connection, until `expiresAt`. */
export interface WebchatSession {
  connectionId: string;
  /** The visitor, and also the id of their one conversation (the message's channel and thread). */
  visitorId: string;
  /** Unix milliseconds. */
  expiresAt: number;
  /** When the visitor's first token was issued (Unix milliseconds); renewals keep it. */
  startedAt: number;
}

/** Why a token was refused; the page tells the visitor which. */
export type SessionFailure = "missing" | "invalid" | "expired" | "wrong_connection";

/** Signs and verifies web chat session tokens. */
export interface SessionSigner {
  /** A new visitor with a fresh token. */
  issue(connectionId: string, now?: number): { session: WebchatSession; token: string };
  /** A fresh token for a known visitor (sliding expiry, never past the absolute lifetime). */
  renew(session: WebchatSession, now?: number): { session: WebchatSession; token: string };
  verify(
    token: string | undefined,
    connectionId: string,
    now?: number,
  ): { ok: true; session: WebchatSession } | { ok: false; reason: SessionFailure };
}

const VERSION = "wc2";
// The token carries whole seconds; the session says what the token says.
const toSecond = (ms: number) => Math.floor(ms / 1000) * 1000;

/**
 * The session key: `WEBCHAT_SESSION_SECRET` when set, else derived from `KONSTRUCT_SECRET_KEY`
 * with HKDF under its own label, so the encryption key itself never signs anything and an
 * installation needs no extra secret to run web chat.
 */
export function sessionSigningKey(options: { secret?: string | undefined; secretKey: { bytes: Buffer } }): Buffer {
  if (options.secret) return Buffer.from(options.secret, "utf8");
  return Buffer.from(hkdfSync("sha256", options.secretKey.bytes, Buffer.alloc(0), "konstruct webchat session v1", 32));
}

/** The id a key is known by in tokens: the first bytes of its SHA-256, never the key. */
export function sessionKeyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("base64url").slice(0, 8);
}

/** Options of {@link createSessionSigner}. */
export interface SessionSignerOptions {
  /** How long a token is valid after it is issued or renewed. */
  ttlMs?: number;
  /** How long a visitor may keep renewing before a new session (a new conversation) is required. */
  maxLifetimeMs?: number;
}

/**
 * Tokens are `wc2.<payload>.<mac>`: the payload is base64url JSON `{c, v, e, s, k}`
 * (connection, visitor, expiry and start in Unix seconds, the signing key's id) and the MAC is
 * HMAC-SHA256 over `wc2.<payload>`. The connection is inside the MAC, so a token from one
 * tenant's chat opens nothing on another's. Stateless on purpose: any gateway replica verifies
 * any token without a lookup.
 *
 * Keys rotate: the first key signs, every key verifies (so tokens signed with the previous
 * secret keep working until they expire). Sessions slide by `ttlMs` on renewal, but never past
 * `maxLifetimeMs` after they started, so a stolen token cannot be renewed forever.
 */
export function createSessionSigner(keys: Buffer | readonly Buffer[], options: SessionSignerOptions = {}): SessionSigner {
  const all = Buffer.isBuffer(keys) ? [keys] : [...keys];
  const signing = all[0];
  if (signing === undefined || all.some((key) => key.length < 16))
    throw new Error("the web chat session secret must be at least 16 bytes; set WEBCHAT_SESSION_SECRET to a long random string");
  const ttlMs = options.ttlMs ?? 24 * 60 * 60_000;
  const maxLifetimeMs = options.maxLifetimeMs ?? 30 * 24 * 60 * 60_000;
  const signingId = sessionKeyId(signing);
  const mac = (key: Buffer, signed: string) => createHmac("sha256", key).update(signed).digest();

  const sign = (session: WebchatSession): string => {
    const payload = Buffer.from(
      JSON.stringify({
        c: session.connectionId,
        v: session.visitorId,
        e: Math.floor(session.expiresAt / 1000),
        s: Math.floor(session.startedAt / 1000),
        k: signingId,
      }),
    ).toString("base64url");
    const signed = `${VERSION}.${payload}`;
    return `${signed}.${mac(signing, signed).toString("base64url")}`;
  };
  const expiryFrom = (now: number, startedAt: number) => toSecond(Math.min(now + ttlMs, startedAt + maxLifetimeMs));

  return {
    issue(connectionId, now = Date.now()) {
      const startedAt = toSecond(now);
      const session = { connectionId, visitorId: randomUUID(), expiresAt: expiryFrom(now, startedAt), startedAt };
      return { session, token: sign(session) };
    },
    renew(session, now = Date.now()) {
      const renewed = { ...session, expiresAt: expiryFrom(now, session.startedAt) };
      return { session: renewed, token: sign(renewed) };
    },
    verify(token, connectionId, now = Date.now()) {
      if (!token) return { ok: false, reason: "missing" };
      const parts = token.split(".");
      if (parts.length !== 3 || parts[0] !== VERSION || !parts[1] || !parts[2] || token.length > 1024)
        return { ok: false, reason: "invalid" };
      const given = Buffer.from(parts[2], "base64url");
      const signed = `${parts[0]}.${parts[1]}`;
      // Nothing in the payload is read before a MAC passes; each comparison is constant-time.
      const valid = all.some((key) => {
        const expected = mac(key, signed);
        return given.length === expected.length && timingSafeEqual(given, expected);
      });
      if (!valid) return { ok: false, reason: "invalid" };
      let claims: { c?: unknown; v?: unknown; e?: unknown; s?: unknown };
      try {
        claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
      } catch {
        return { ok: false, reason: "invalid" };
      }
      if (
        typeof claims.c !== "string" ||
        typeof claims.v !== "string" ||
        !isUuid(claims.v) ||
        typeof claims.e !== "number" ||
        typeof claims.s !== "number"
      ) {
        return { ok: false, reason: "invalid" };
      }
      if (claims.c !== connectionId) return { ok: false, reason: "wrong_connection" };
      const expiresAt = claims.e * 1000;
      const startedAt = claims.s * 1000;
      if (expiresAt <= now || startedAt + maxLifetimeMs <= now) return { ok: false, reason: "expired" };
      return { ok: true, session: { connectionId: claims.c, visitorId: claims.v, expiresAt, startedAt } };
    },
  };
}
