import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { slackSignature, verifySlackSignature } from "./signature.ts";

const SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const NOW = 1_700_000_000_000;
const TS = String(NOW / 1000);
const BODY = Buffer.from('{"type":"event_callback","event_id":"Ev1"}');

// Computed independently of the module under test, exactly as Slack documents it.
const reference = (secret: string, ts: string, body: Buffer) =>
  `v0=${createHmac("sha256", secret)
    .update(`v0:${ts}:${body.toString("utf8")}`)
    .digest("hex")}`;

describe("verifySlackSignature", () => {
  it("accepts Slack's signature over the raw bytes", () => {
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: reference(SECRET, TS, BODY), body: BODY }, NOW)).toBe(true);
    expect(slackSignature(SECRET, TS, BODY)).toBe(reference(SECRET, TS, BODY));
  });

  it("rejects another secret, a changed body, a changed timestamp", () => {
    const signature = reference(SECRET, TS, BODY);
    expect(verifySlackSignature("another-secret", { timestamp: TS, signature, body: BODY }, NOW)).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature, body: Buffer.from(`${BODY} `) }, NOW)).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: String(Number(TS) + 1), signature, body: BODY }, NOW)).toBe(false);
  });

  it("enforces the 5-minute window both ways", () => {
    for (const offset of [-301, 301]) {
      const ts = String(Number(TS) + offset);
      expect(verifySlackSignature(SECRET, { timestamp: ts, signature: reference(SECRET, ts, BODY), body: BODY }, NOW)).toBe(
        false,
      );
    }
    for (const offset of [-300, 300]) {
      const ts = String(Number(TS) + offset);
      expect(verifySlackSignature(SECRET, { timestamp: ts, signature: reference(SECRET, ts, BODY), body: BODY }, NOW)).toBe(true);
    }
  });

  it("rejects missing or malformed headers and an empty secret without throwing", () => {
    const signature = reference(SECRET, TS, BODY);
    expect(verifySlackSignature(SECRET, { timestamp: undefined, signature, body: BODY }, NOW)).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: undefined, body: BODY }, NOW)).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: signature.replace("v0=", "v1="), body: BODY }, NOW)).toBe(
      false,
    );
    expect(verifySlackSignature(SECRET, { timestamp: TS, signature: signature.slice(0, -2), body: BODY }, NOW)).toBe(false);
    expect(verifySlackSignature(SECRET, { timestamp: "1e9", signature, body: BODY }, NOW)).toBe(false);
    expect(verifySlackSignature("", { timestamp: TS, signature: reference("", TS, BODY), body: BODY }, NOW)).toBe(false);
  });
});
