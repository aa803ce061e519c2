import type { OutboundReply } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { sendMessageBody, TELEGRAM_TEXT_LIMIT, telegramPostFailure } from "./sender.ts";

const error = (status: number, description: string, retryAfterSeconds: number | null = null) =>
  ({ kind: "error", status, errorCode: status, description, retryAfterSeconds }) as const;

describe("telegramPostFailure", () => {
  it("waits the 429's retry_after", () => {
    expect(telegramPostFailure(error(429, "Too Many Requests: retry after 7", 7))).toEqual({
      kind: "rate_limited",
      retryAfterMs: 7_000,
    });
  });

  it("dead-letters what no retry can fix", () => {
    for (const [status, description] of [
      [400, "Bad Request: chat not found"],
      [403, "Forbidden: bot was blocked by the user"],
      [403, "Forbidden: bot was kicked from the group chat"],
      [401, "Unauthorized"],
    ] as const) {
      expect(telegramPostFailure(error(status, description))).toMatchObject({ kind: "refused", permanent: true });
    }
  });

  it("retries other refusals, and counts a 5xx or no answer as a post that may have landed", () => {
    expect(telegramPostFailure(error(400, "Bad Request: something new"))).toMatchObject({ kind: "refused", permanent: false });
    expect(telegramPostFailure(error(502, "Bad Gateway"))).toMatchObject({ kind: "uncertain" });
    expect(telegramPostFailure({ kind: "no_answer", detail: "sendMessage: ECONNRESET" })).toMatchObject({ kind: "uncertain" });
  });
});

describe("sendMessageBody", () => {
  const reply: OutboundReply = {
    replyId: "reply:telegram:7001:900001",
    tenantId: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c01",
    channelType: "telegram",
    connectionId: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c02",
    target: { workspaceId: "7001", channelId: "-100555", threadId: "-100555", inReplyToMessageId: "17" },
    text: "Refunds within 30 days.",
    kind: "answer",
    agent: null,
  };

  it("replies to the question in its chat", () => {
    expect(sendMessageBody(reply)).toEqual({
      chat_id: "-100555",
      text: "Refunds within 30 days.",
      reply_parameters: { message_id: 17, allow_sending_without_reply: true },
    });
  });

  it("cuts a reply longer than Telegram takes, without splitting a surrogate pair", () => {
    const text = `${"a".repeat(TELEGRAM_TEXT_LIMIT - 2)}😀😀😀`;
    const body = sendMessageBody({ ...reply, text });
    const sent = body.text as string;
    expect(sent.length).toBeLessThanOrEqual(TELEGRAM_TEXT_LIMIT);
    expect(sent.endsWith("…")).toBe(true);
    expect(/[\uD800-\uDBFF]…$/.test(sent)).toBe(false);
  });
});
