import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { CredentialsError } from "./errors.ts";

/**
 * Channel credentials (Slack bot tokens, signing secrets) are stored encrypted with
 * AES-256-GCM under `KONSTRUCT_SECRET_KEY`. The tenant id is bound in as additional
 * authenticated data, so a ciphertext copied into another tenant's row fails to decrypt.
 * Format: `v1.<iv>.<tag>.<ciphertext>`, each base64url.
 */
const VERSION = "v1";

/** A parsed encryption key (32 bytes). */
export interface SecretKey {
  readonly bytes: Buffer;
}

/** Parses a base64 32-byte key, as `KONSTRUCT_SECRET_KEY` holds it. */
export function parseSecretKey(base64: string): SecretKey {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== 32)
    throw new CredentialsError("KONSTRUCT_SECRET_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)");
  return { bytes };
}

/** Encrypts `plaintext` for `tenantId`. */
export function encryptSecret(key: SecretKey, tenantId: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key.bytes, iv);
  cipher.setAAD(Buffer.from(tenantId, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
    .join(".");
}

/** Decrypts what {@link encryptSecret} produced for the same tenant, or throws CredentialsError. */
export function decryptSecret(key: SecretKey, tenantId: string, sealed: string): string {
  const [version, iv, tag, ciphertext] = sealed.split(".");
  if (version !== VERSION || !iv || !tag || ciphertext === undefined) {
    throw new CredentialsError("stored credentials are not in a known format");
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.bytes, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(tenantId, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
  } catch (cause) {
    throw new CredentialsError("stored credentials failed to decrypt: wrong KONSTRUCT_SECRET_KEY or a row of another tenant", {
      cause,
    });
  }
}
