import { describe, expect, it } from "vitest";
import { secretEquals } from "./secret-equals.ts";

describe("secretEquals", () => {
  it("accepts only the connection's exact secret", () => {
    expect(secretEquals("s3cret-token_A", "s3cret-token_A")).toBe(true);
    expect(secretEquals("s3cret-token_A", "s3cret-token_B")).toBe(false);
    expect(secretEquals("s3cret-token_A", "s3cret-token_A ")).toBe(false);
    expect(secretEquals("s3cret-token_A", "")).toBe(false);
    expect(secretEquals("s3cret-token_A", undefined)).toBe(false);
  });

  it("accepts nothing when there is no secret to compare with (an unknown connection)", () => {
    expect(secretEquals("", "")).toBe(false);
    expect(secretEquals("", "anything")).toBe(false);
  });
});
