import { createHash, randomBytes } from "node:crypto";

/** A new random password: 32 bytes, base64url (no quoting issues in URLs or SQL). */
export function generatePassword(): string {
  return randomBytes(32).toString("base64url");
}

export { scramVerifier, verifierMatches } from "@konstruct/core/scram";

/** SHA-256 hex, the form Redis ACL GETUSER reports passwords in. */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
