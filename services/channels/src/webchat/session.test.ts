import { describe, expect, it } from "vitest";
import { createSessionSigner, sessionKeyId, sessionSigningKey } from "./session.ts";

const CONNECTION = "6f1c2b1e-0d55-4a43-9a55-3c1f6f0f9a01";
const OTHER = "7a2d3c2f-1e66-4b54-8b66-4d2a7a1a0b12";
const signer = createSessionSigner(Buffer.from("a web chat session key of enough length"));

describe("web chat sessions", () => {
  it("verifies its own token for the same connection", () => {
    const { token, session } = signer.issue(CONNECTION);
    expect(signer.verify(token, CONNECTION)).toEqual({ ok: true, session });
  });

  it("refuses a token for another connection, another key, a changed payload, an expired one", () => {
    const { token } = signer.issue(CONNECTION, 1_000_000);
    expect(signer.verify(token, OTHER, 1_000_001)).toEqual({ ok: false, reason: "wrong_connection" });
    const other = createSessionSigner(Buffer.from("another web chat key, also long enough"));
    expect(other.verify(token, CONNECTION, 1_000_001)).toEqual({ ok: false, reason: "invalid" });
    const [v, payload, mac] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload as string, "base64url").toString());
    const changed = Buffer.from(JSON.stringify({ ...claims, v: "00000000-0000-4000-8000-000000000000" })).toString("base64url");
    expect(signer.verify(`${v}.${changed}.${mac}`, CONNECTION, 1_000_001)).toEqual({ ok: false, reason: "invalid" });
    expect(signer.verify(token, CONNECTION, 1_000_000 + 25 * 3_600_000)).toEqual({ ok: false, reason: "expired" });
    expect(signer.verify(undefined, CONNECTION)).toEqual({ ok: false, reason: "missing" });
    expect(signer.verify("garbage", CONNECTION)).toEqual({ ok: false, reason: "invalid" });
  });

  it("renews a session for the same visitor", () => {
    const first = signer.issue(CONNECTION, 0);
    const renewed = signer.renew(first.session, 3_600_000);
    expect(renewed.session.visitorId).toBe(first.session.visitorId);
    expect(renewed.session.expiresAt).toBeGreaterThan(first.session.expiresAt);
  });

  it("stops renewing a session at its absolute lifetime, so a stolen token cannot live forever", () => {
    const short = createSessionSigner(Buffer.from("a web chat session key of enough length"), {
      ttlMs: 3_600_000,
      maxLifetimeMs: 2 * 3_600_000,
    });
    const first = short.issue(CONNECTION, 0);
    const renewed = short.renew(first.session, 1.5 * 3_600_000);
    expect(renewed.session.startedAt).toBe(first.session.startedAt);
    expect(renewed.session.expiresAt).toBe(2 * 3_600_000);
    expect(short.verify(renewed.token, CONNECTION, 2 * 3_600_000 - 1_000)).toMatchObject({ ok: true });
    expect(short.verify(renewed.token, CONNECTION, 2 * 3_600_000)).toEqual({ ok: false, reason: "expired" });
  });

  it("rotates keys: the new key signs, the previous one still verifies its tokens, a dropped one does not", () => {
    const oldKey = Buffer.from("the web chat key before the rotation");
    const newKey = Buffer.from("the web chat key after the rotation!!");
    const before = createSessionSigner(oldKey).issue(CONNECTION);
    const rotated = createSessionSigner([newKey, oldKey]);
    expect(rotated.verify(before.token, CONNECTION)).toMatchObject({ ok: true });
    const after = rotated.issue(CONNECTION);
    const claims = JSON.parse(Buffer.from(after.token.split(".")[1] as string, "base64url").toString());
    expect(claims.k).toBe(sessionKeyId(newKey));
    expect(createSessionSigner(newKey).verify(after.token, CONNECTION)).toMatchObject({ ok: true });
    expect(createSessionSigner(newKey).verify(before.token, CONNECTION)).toEqual({ ok: false, reason: "invalid" });
  });

  it("derives a distinct key from the encryption key when no session secret is set", () => {
    const bytes = Buffer.alloc(32, 9);
    const derived = sessionSigningKey({ secretKey: { bytes } });
    expect(derived).toHaveLength(32);
    expect(derived.equals(bytes)).toBe(false);
    expect(sessionSigningKey({ secret: "explicit secret value here", secretKey: { bytes } }).toString()).toBe(
      "explicit secret value here",
    );
  });
});
