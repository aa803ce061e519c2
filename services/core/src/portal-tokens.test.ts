import { describe, expect, it } from "vitest";
import { isPortalToken, newPortalToken, portalTokenDigest } from "./portal-tokens.ts";

describe("portal tokens", () => {
  it("are 256 random bits in base64url, different every time", () => {
    const a = newPortalToken();
    const b = newPortalToken();
    expect(isPortalToken(a)).toBe(true);
    expect(Buffer.from(a, "base64url")).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it("refuse what a token cannot look like", () => {
    for (const bad of ["", "short", `${newPortalToken()}x`, `${newPortalToken().slice(1)}/`, "../../etc/passwd"]) {
      expect(isPortalToken(bad), bad).toBe(false);
    }
  });

  it("are stored as a 32-byte SHA-256 digest that depends on every character", () => {
    const token = newPortalToken();
    expect(portalTokenDigest(token)).toHaveLength(32);
    expect(portalTokenDigest(token).equals(portalTokenDigest(token))).toBe(true);
    expect(portalTokenDigest(token).equals(portalTokenDigest(`${token.slice(0, -1)}A`))).toBe(token.endsWith("A"));
  });
});
