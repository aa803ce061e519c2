import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { assertTenantId, keyPart, redisKey } from "@konstruct/core";
import type { Redis } from "ioredis";

/**
 * The OAuth `state` of an "Add to Slack" installation: which tenant and connection the
 * installation is for, a nonce, and an expiry, signed with a key derived from
 * `KONSTRUCT_SECRET_KEY`. Slack hands it back unchanged on the redirect; the callback accepts it
 * only when the signature holds, it has not expired, the installer's browser carries the nonce
 * in the cookie set when the installation started, and the nonce was never used before (a Redis
 * `SET NX` under the tenant), so a state can be neither forged, moved to another tenant, nor
 * replayed.
 */

/** How long an installation may take from the install link to Slack's redirect back. */
export const INSTALL_STATE_TTL_MS = 10 * 60_000;

const VERSION = "v1";

/** What a state says. */
export interface InstallState {
  tenantId: string;
  connectionId: string;
  nonce: string;
  /** Expiry, milliseconds since the epoch. */
  expiresAt: number;
}

/** The state signing key: HKDF of the platform's secret key, so no new secret needs managing. */
export function installStateKey(secretKey: { bytes: Buffer }): Buffer {
  return Buffer.from(hkdfSync("sha256", secretKey.bytes, Buffer.alloc(0), "konstruct slack install state v1", 32));
}

/** A fresh state for one connection's installation. */
export function createInstallState(
  key: Buffer,
  target: { tenantId: string; connectionId: string },
  now: number = Date.now(),
): { state: string; nonce: string } {
  const nonce = randomBytes(18).toString("base64url");
  const payload: InstallState = { ...target, nonce, expiresAt: now + INSTALL_STATE_TTL_MS };
  return { state: signInstallState(key, payload), nonce };
}

/** Signs a state payload (exported for tests that need an expired or altered one). */
export function signInstallState(key: Buffer, payload: InstallState): string {
  const body = Buffer.from(
    JSON.stringify({ t: payload.tenantId, c: payload.connectionId, n: payload.nonce, e: payload.expiresAt }),
  ).toString("base64url");
  return `${VERSION}.${body}.${mac(key, body)}`;
}

/** The state's payload when its signature holds and it has not expired; null otherwise (no reason is given out). */
export function verifyInstallState(key: Buffer, state: string, now: number = Date.now()): InstallState | null {
  const [version, body, signature] = state.split(".");
  if (version !== VERSION || !body || !signature || state.length > 2048) return null;
  const expected = Buffer.from(mac(key, body));
  const presented = Buffer.from(signature);
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return null;
  let fields: { t?: unknown; c?: unknown; n?: unknown; e?: unknown };
  try {
    fields = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const { t, c, n, e } = fields;
  if (typeof t !== "string" || typeof c !== "string" || typeof n !== "string" || typeof e !== "number") return null;
  if (e <= now) return null;
  try {
    assertTenantId(t);
  } catch {
    return null;
  }
  return { tenantId: t, connectionId: c, nonce: n, expiresAt: e };
}

/** Marks a state's nonce used; false when it was used before (a replay). */
export async function consumeInstallState(redis: Redis, state: InstallState, now: number = Date.now()): Promise<boolean> {
  const key = redisKey(state.tenantId, "idempotency", "slack-install", keyPart(state.nonce));
  // Kept a little past the expiry: after that the signature check refuses the state anyway.
  const ttl = Math.max(1_000, state.expiresAt - now + 60_000);
  return (await redis.set(key, "used", "PX", ttl, "NX")) === "OK";
}

function mac(key: Buffer, body: string): string {
  return createHmac("sha256", key).update(`slack-install-state.${VERSION}.${body}`).digest("base64url");
}
