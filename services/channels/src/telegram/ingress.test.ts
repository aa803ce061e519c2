import { describe, expect, it } from "vitest";
import { verifySecretToken } from "./ingress.ts";

describe("verifySecretToken", () => {
  it("accepts only the connection's exact secret", () => {
    expect(verifySecretToken("s3cret-token_A", "s3cret-token_A")).toBe(true);
    expect(verifySecretToken("s3cret-token_A", "s3cret-token_B")).toBe(false);
    expect(verifySecretToken("s3cret-token_A", "s3cret-token_A ")).toBe(false);
    expect(verifySecretToken("s3cret-token_A", "")).toBe(false);
    expect(verifySecretToken("s3cret-token_A", undefined)).toBe(false);
  });

  it("accepts nothing when there is no secret to compare with (an unknown connection)", () => {
    expect(verifySecretToken("", "")).toBe(false);
    expect(verifySecretToken("", "anything")).toBe(false);
  });
});
