import type { KonstructMessage } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { conversationThreadKey } from "./conversation-history.ts";

const message = (workspaceId: string, channelId: string, threadId: string) =>
  ({ channel: { workspaceId, channelId }, threadId }) as KonstructMessage;

describe("conversationThreadKey", () => {
  it("is the channel's workspace, channel and thread", () => {
    expect(conversationThreadKey(message("T1", "C2", "1700000000.000100"))).toBe("T1/C2/1700000000.000100");
  });

  it("never gives two different threads one key, whatever their ids hold", () => {
    const keys = [
      message("a/b", "c", "d"),
      message("a", "b/c", "d"),
      message("a", "b", "c/d"),
      message("a%2Fb", "c", "d"),
      message("a", "b%2F", "c"),
    ].map(conversationThreadKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("fits the column (800 characters) for the longest ids", () => {
    expect(conversationThreadKey(message("x".repeat(256), "y".repeat(256), "z".repeat(256)))).toHaveLength(770);
    const slashes = conversationThreadKey(message("/".repeat(256), "/".repeat(256), "/".repeat(256)));
    expect(slashes.length).toBeLessThanOrEqual(800);
    expect(slashes).not.toBe(conversationThreadKey(message("/".repeat(256), "/".repeat(256), "/".repeat(255))));
  });
});
