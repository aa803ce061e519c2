import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptSecret, encryptSecret, parseSecretKey } from "./crypto.ts";
import { CredentialsError } from "./errors.ts";

const key = parseSecretKey(randomBytes(32).toString("base64"));
const A = "0b0e8d1c-3a4f-4b5e-9c6d-7e8f9a0b1c2d";
const B = "1c1f9e2d-4b5a-4c6f-8d7e-8f9a0b1c2d3e";

describe("credential encryption", () => {
  it("round-trips and never stores the plaintext", () => {
    const sealed = encryptSecret(key, A, '{"botToken":"xoxb-123"}');
    expect(sealed).not.toContain("xoxb");
    expect(decryptSecret(key, A, sealed)).toBe('{"botToken":"xoxb-123"}');
    expect(encryptSecret(key, A, "same")).not.toBe(encryptSecret(key, A, "same"));
  });

  it("refuses a ciphertext moved to another tenant, a wrong key, or tampering", () => {
    const sealed = encryptSecret(key, A, "secret");
    expect(() => decryptSecret(key, B, sealed)).toThrow(CredentialsError);
    expect(() => decryptSecret(parseSecretKey(randomBytes(32).toString("base64")), A, sealed)).toThrow(CredentialsError);
    const parts = sealed.split(".");
    parts[3] = Buffer.from("tampered").toString("base64url");
    expect(() => decryptSecret(key, A, parts.join("."))).toThrow(CredentialsError);
    expect(() => decryptSecret(key, A, "plain-text")).toThrow(CredentialsError);
  });

  it("requires a 32-byte key", () => {
    expect(() => parseSecretKey(randomBytes(16).toString("base64"))).toThrow(/32 bytes/);
  });
});
