import type { ReplyDelta } from "@konstruct/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createReplyStream } from "./reply-stream.ts";

const reply = {
  replyId: "reply:webchat:wc-1:m1",
  tenantId: "7f3a1c2e-4b5d-4e6f-8a9b-0c1d2e3f4a5b",
  channelType: "webchat",
  connectionId: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
  target: { workspaceId: "wc-1", channelId: "v", threadId: "v", inReplyToMessageId: "v.m1" },
};

describe("a reply stream", () => {
  let sent: ReplyDelta[];
  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
  });
  afterEach(() => vi.useRealTimers());
  const stream = (deliveryCount = 1, startedAt = 1_000) =>
    createReplyStream({ publish: (d) => sent.push(d), reply, deliveryCount, startedAt, intervalMs: 50 });

  it("sends the first piece at once and coalesces the pieces of the next interval into one delta", () => {
    const s = stream();
    s.push("Hel", 1);
    expect(sent.map((d) => [d.offset, d.text])).toEqual([[0, "Hel"]]);
    for (const piece of ["lo", ",", " wor"]) {
      vi.advanceTimersByTime(10);
      s.push(piece, 1);
    }
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(20);
    expect(sent.map((d) => [d.offset, d.text])).toEqual([
      [0, "Hel"],
      [3, "lo, wor"],
    ]);
    s.push("ld", 1);
    s.close();
    expect(sent.map((d) => d.text).join("")).toBe("Hello, world");
    expect(sent.at(-1)?.offset).toBe(10);
    s.push("ignored after close", 1);
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(3);
  });

  it("two hundred tokens a second become at most twenty deltas a second", () => {
    const s = stream();
    for (let i = 0; i < 200; i++) {
      s.push("tok ", 1);
      vi.advanceTimersByTime(5);
    }
    s.close();
    expect(sent.length).toBeLessThanOrEqual(21);
    expect(sent.map((d) => d.text).join("")).toBe("tok ".repeat(200));
  });

  it("starts over from offset 0 under a new attempt when the pool retries or falls back, and after a redelivery", () => {
    const s = stream(1);
    s.push("partial answer from the first model", 1);
    s.push(" that failed", 1);
    s.push("Fallback", 2);
    s.close();
    expect(sent.map((d) => [d.attempt, d.offset, d.text])).toEqual([
      ["1.1000.1", 0, "partial answer from the first model"],
      ["1.1000.2", 0, "Fallback"],
    ]);
    const again = stream(2, 2_000);
    again.push("Again", 1);
    expect(sent.at(-1)).toMatchObject({ attempt: "2.2000.1", offset: 0, text: "Again" });
    // The run taking over from a killed one may get the same delivery count: its start tells it apart.
    const takeover = stream(2, 3_000);
    takeover.push("Over", 1);
    expect(sent.at(-1)).toMatchObject({ attempt: "2.3000.1", offset: 0, text: "Over" });
  });
});
