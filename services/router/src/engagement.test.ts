import type { KonstructMessage } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { isOwnMessage } from "./bot-filter.ts";
import { directEngagement } from "./engagement.ts";

function message(overrides: {
  isDirect?: boolean;
  mentions?: string[];
  senderId?: string;
  botId?: string | null;
  botUserId?: string | null;
  mentionsBot?: boolean;
}): KonstructMessage {
  return {
    id: "5d1e9b1a-3c2f-4e8d-9a7b-6c5d4e3f2a10",
    tenantId: null,
    channelType: "slack",
    channel: {
      connectionId: null,
      workspaceId: "T1",
      channelId: "C1",
      messageId: "1700000000.000100",
      isDirect: overrides.isDirect ?? false,
      botUserId: overrides.botUserId === undefined ? "UBOT" : overrides.botUserId,
    },
    sender: {
      id: overrides.senderId ?? "UPERSON",
      displayName: null,
      isBot: overrides.botId != null,
      botId: overrides.botId ?? null,
    },
    content: {
      text: "hi",
      mentions: overrides.mentions ?? [],
      attachments: [],
      ...(overrides.mentionsBot === undefined ? {} : { mentionsBot: overrides.mentionsBot }),
    },
    threadId: "1700000000.000100",
    timestamp: "2023-11-14T22:13:20Z",
    deliveryId: "Ev1",
  };
}

describe("engagement", () => {
  it("engages on a DM and on an @mention of our bot", () => {
    expect(directEngagement(message({ isDirect: true }))).toBe("direct");
    expect(directEngagement(message({ mentions: ["UOTHER", "UBOT"] }))).toBe("mention");
  });

  it("engages when the channel says the bot was mentioned (Slack's app_mention), even without knowing the bot's user id", () => {
    expect(directEngagement(message({ mentionsBot: true, botUserId: null }))).toBe("mention");
    expect(directEngagement(message({ mentionsBot: false, mentions: ["UOTHER"] }))).toBeNull();
  });

  it("does not engage on a mention of somebody else, or when the bot user is unknown", () => {
    expect(directEngagement(message({ mentions: ["UOTHER"] }))).toBeNull();
    expect(directEngagement(message({ mentions: ["UBOT"], botUserId: null }))).toBeNull();
  });
});

describe("own-message filter", () => {
  it("recognises the bot user the channel delivered to", () => {
    expect(isOwnMessage(message({ senderId: "UBOT" }), null)).toBe(true);
  });

  it("recognises our app's bot id", () => {
    expect(isOwnMessage(message({ senderId: "B123", botId: "BAPP" }), "BAPP")).toBe(true);
  });

  it("lets people and other bots through", () => {
    expect(isOwnMessage(message({}), "BAPP")).toBe(false);
    expect(isOwnMessage(message({ senderId: "UOTHERBOT", botId: "BOTHER" }), "BAPP")).toBe(false);
  });
});
