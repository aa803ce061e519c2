import { CHANNEL_TYPE_PATTERN } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { CHANNEL_TYPES, CHANNELS, type ChannelDefinition, channelDefinition, connectionPathOf, questionText } from "./index.ts";

const definitions = CHANNELS as readonly ChannelDefinition[];

describe("the channel list", () => {
  it("names each channel once, with a name that is safe as a subject token and key part", () => {
    expect(new Set(CHANNEL_TYPES).size).toBe(CHANNEL_TYPES.length);
    for (const type of CHANNEL_TYPES) expect(type).toMatch(new RegExp(CHANNEL_TYPE_PATTERN));
  });

  it("gives every channel a route for its connections and a gateway factory", async () => {
    for (const channel of definitions) {
      expect(channel.connectionRoute).toMatch(/^\/[a-z]+\/.*:connectionId/);
      expect(await channel.gateway()).toBeTypeOf("function");
    }
  });

  it("derives each connection's path from its channel's route", () => {
    const id = "6f1c1f4e-8a9e-4a5e-9a0b-0c2d4e6f8a10";
    expect(connectionPathOf("slack", id)).toBe(`/webhooks/slack/${id}/events`);
    expect(connectionPathOf("webchat", id)).toBe(`/webchat/${id}/`);
    expect(connectionPathOf("fax", id)).toBeUndefined();
    expect(channelDefinition("fax")).toBeUndefined();
  });

  it("strips only the channel's own bot mention from the model's question", () => {
    expect(questionText("slack", "<@U0BOT> what is the plan?", "U0BOT")).toBe("what is the plan?");
    expect(questionText("webchat", "  <@U0BOT> hi  ", null)).toBe("<@U0BOT> hi");
  });
});
