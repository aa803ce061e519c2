import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** The header Meta signs every webhook notification with: `sha256=<hex HMAC-SHA256 of the raw body under the app secret>`. */
export const WHATSAPP_SIGNATURE_HEADER = "x-hub-signature-256";

/** The header value Meta would send for `body` (the double and tests sign with it). */
export function whatsappSignature(appSecret: string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", appSecret).update(body).digest("hex")}`;
}

/**
 * True when `presented` is Meta's signature of these exact bytes. Both sides are hashed before
 * the comparison, so it takes the same time whatever the presented length, and a missing header
 * compares like a wrong one.
 */
export function verifyWhatsAppSignature(appSecret: string, body: Buffer, presented: string | undefined): boolean {
  if (!appSecret || presented === undefined) return false;
  const expected = createHash("sha256").update(whatsappSignature(appSecret, body)).digest();
  const given = createHash("sha256").update(presented.trim().toLowerCase()).digest();
  return timingSafeEqual(expected, given);
}

/** True when `presented` is the verify token, compared in constant time (the handshake's check). */
export function verifyToken(expected: string, presented: string | undefined): boolean {
  if (!expected || presented === undefined) return false;
  return timingSafeEqual(createHash("sha256").update(expected).digest(), createHash("sha256").update(presented).digest());
}
