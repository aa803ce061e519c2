import { describe, expect, it } from "vitest";
import { scramVerifier, verifierMatches } from "./scram.ts";

describe("SCRAM verifiers", () => {
  it("match their own password only, before and after a remembered match", async () => {
    const verifier = await scramVerifier("correct horse battery staple");
    const other = await scramVerifier("correct horse battery staple");
    for (let round = 0; round < 2; round++) {
      expect(await verifierMatches(verifier, "correct horse battery staple")).toBe(true);
      expect(await verifierMatches(verifier, "correct horse battery stapler")).toBe(false);
      // The same password under another salt is another verifier, checked on its own.
      expect(await verifierMatches(other, "correct horse battery staple")).toBe(true);
      expect(await verifierMatches(other.replace(/.$/, "A"), "correct horse battery staple")).toBe(false);
    }
    expect(await verifierMatches("md5abc", "correct horse battery staple")).toBe(false);
  });
});
