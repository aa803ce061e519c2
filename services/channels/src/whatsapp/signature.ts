import { createHmac } from "node:crypto";
import { secretEquals } from "../secret-equals.ts";

/** The header Meta signs every webhook notification with: `sha256=<hex HMAC-SHA256 of the raw body under the app secret>`. */
export const WHATSAPP_SIGNATURE_HEADER = "x-hub-signature-256";

/** The header value Meta would send for `body` (the double and tests sign with it). */
export function whatsappSignature(appSecret: string, body: Buffer | string): string {
  return `sha256=${createHmac("sha256", appSecret).update(body).digest("hex")}`;
}

/**
 * True when `presented` is Meta's signature of these exact bytes, compared in constant time; a
 * missing header, or no app secret (an unknown connection), never matches.
 */
export function verifyWhatsAppSignature(appSecret: string, body: Buffer, presented: string | undefined): boolean {
  if (!appSecret) return false;
  return secretEquals(whatsappSignature(appSecret, body), presented?.trim().toLowerCase());
}
