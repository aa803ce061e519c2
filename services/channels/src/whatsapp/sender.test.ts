import type { OutboundReply } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { messagesBody, WHATSAPP_TEXT_LIMIT, whatsappPostFailure } from "./sender.ts";
import { verifyWhatsAppSignature, whatsappSignature } from "./signature.ts";

const error = (status: number, code: number, retryAfterSeconds: number | null = null) =>
  ({ kind: "error", status, code, message: `(#${code}) x`, details: null, retryAfterSeconds }) as const;

describe("whatsappPostFailure", () => {
  it("waits a rate limit's Retry-After, or the limit's own period", () => {
    expect(whatsappPostFailure(error(429, 130429, 3))).toEqual({ kind: "rate_limited", retryAfterMs: 3_000 });
    expect(whatsappPostFailure(error(400, 131056))).toEqual({ kind: "rate_limited", retryAfterMs: 6_000 });
    expect(whatsappPostFailure(error(400, 80007))).toEqual({ kind: "rate_limited", retryAfterMs: 60_000 });
  });

  it("refuses for good outside the 24-hour window, saying so", () => {
    const result = whatsappPostFailure(error(400, 131047));
    expect(result).toMatchObject({ kind: "refused", permanent: true });
    expect((result as { detail: string }).detail).toMatch(/24-hour customer service window/);
  });

  it("dead-letters what no retry can fix, retries other refusals, and counts a 5xx or no answer as maybe sent", () => {
    for (const code of [190, 10, 100, 131026, 131030, 133010, 200]) {
      expect(whatsappPostFailure(error(400, code)), String(code)).toMatchObject({ kind: "refused", permanent: true });
    }
    expect(whatsappPostFailure(error(400, 135000))).toMatchObject({ kind: "refused", permanent: false });
    expect(whatsappPostFailure(error(500, 131000))).toMatchObject({ kind: "uncertain" });
    expect(whatsappPostFailure({ kind: "no_answer", detail: "ECONNRESET" })).toMatchObject({ kind: "uncertain" });
  });
});

describe("messagesBody", () => {
  const reply: OutboundReply = {
    replyId: "reply:whatsapp:106540352242922:wamid.X",
    tenantId: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c01",
    channelType: "whatsapp",
    connectionId: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c02",
    target: {
      workspaceId: "106540352242922",
      channelId: "4915112345678",
      threadId: "4915112345678",
      inReplyToMessageId: "wamid.X",
    },
    text: "We deliver on weekdays.",
    kind: "answer",
    agent: null,
  };

  it("sends text to the customer, quoting the question", () => {
    expect(messagesBody(reply)).toEqual({
      messaging_product: "whatsapp",
      recipient_type: "individual",
      to: "4915112345678",
      type: "text",
      text: { body: "We deliver on weekdays.", preview_url: false },
      context: { message_id: "wamid.X" },
    });
  });

  it("cuts a reply longer than WhatsApp takes", () => {
    const body = messagesBody({ ...reply, text: "a".repeat(WHATSAPP_TEXT_LIMIT + 10) }) as { text: { body: string } };
    expect(body.text.body.length).toBe(WHATSAPP_TEXT_LIMIT);
    expect(body.text.body.endsWith("…")).toBe(true);
  });
});

describe("verifyWhatsAppSignature", () => {
  it("accepts Meta's signature of these bytes only", () => {
    const body = Buffer.from('{"object":"whatsapp_business_account"}');
    expect(verifyWhatsAppSignature("s3cret", body, whatsappSignature("s3cret", body))).toBe(true);
    expect(verifyWhatsAppSignature("s3cret", body, whatsappSignature("other", body))).toBe(false);
    expect(verifyWhatsAppSignature("s3cret", Buffer.concat([body, Buffer.from(" ")]), whatsappSignature("s3cret", body))).toBe(
      false,
    );
    expect(verifyWhatsAppSignature("s3cret", body, undefined)).toBe(false);
    expect(verifyWhatsAppSignature("", body, whatsappSignature("", body))).toBe(false);
  });
});
