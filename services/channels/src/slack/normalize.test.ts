import { MessageValidationError, parseMessage } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { slackFixtures as f } from "./fixtures.ts";
import { normalizeSlackEvent, slackTsToIso, stripBotMention } from "./normalize.ts";

const CONNECTION = "6f1c2b4e-8a7d-4c1e-9b3a-2d5e6f7a8b9c";
const normalize = (body: unknown, connectionId: string | null = CONNECTION) =>
  normalizeSlackEvent(body, { connectionId, newId: () => "00000000-0000-4000-8000-000000000001" });

function message(body: unknown) {
  const result = normalize(body);
  if (result.kind !== "message") throw new Error(`expected a message, got ${JSON.stringify(result)}`);
  // Whatever the normalizer emits must pass the boundary schema the router applies.
  return parseMessage(result.message);
}

describe("normalizeSlackEvent", () => {
  it("turns an app_mention into a message addressed to the bot, starting its own thread", () => {
    const m = message(f.appMention);
    expect(m).toMatchObject({
      tenantId: null,
      channelType: "slack",
      channel: {
        connectionId: CONNECTION,
        workspaceId: "T061EG9R6",
        channelId: "C0LAN2Q65",
        messageId: "1515449522.000016",
        isDirect: false,
        botUserId: "U0LAN0Z89",
      },
      sender: { id: "U061F7AUR", isBot: false, botId: null },
      content: { mentions: ["U0LAN0Z89"], mentionsBot: true, attachments: [] },
      threadId: "1515449522.000016",
      deliveryId: "Ev0PV52K21",
      timestamp: "2018-01-08T22:12:02.000Z",
    });
  });

  it("says an app_mention addresses the bot even when the envelope names no bot user", () => {
    const { authorizations: _, ...withoutAuthorizations } = f.appMention as Record<string, unknown>;
    const m = message(withoutAuthorizations);
    expect(m.channel.botUserId).toBeNull();
    expect(m.content.mentionsBot).toBe(true);
  });

  it("routes by the signed envelope's team, not the inner event's (another org's in a shared channel)", () => {
    const base = f.appMention as { event: Record<string, unknown> };
    const m = message({ ...base, event: { ...base.event, team: "T0OTHERORG" } });
    expect(m.channel.workspaceId).toBe("T061EG9R6");
  });

  it("marks a DM as direct and a thread reply with its parent thread", () => {
    expect(message(f.directMessage).channel.isDirect).toBe(true);
    const reply = message(f.threadReply);
    expect(reply.threadId).toBe("1355517523.000005");
    expect(reply.channel.messageId).toBe("1355517600.000010");
  });

  it("keeps a plain channel message with no mention, for thread engagement to decide", () => {
    const m = message(f.channelMessage);
    expect(m.content.mentions).toEqual([]);
    expect(m.content.text).toBe("Hello world");
  });

  it("types bot messages as bots, both legacy bot_message and an app's own user", () => {
    const legacy = message(f.botMessage);
    expect(legacy.sender).toEqual({ id: "BB12033", displayName: "github", isBot: true, botId: "BB12033" });
    const own = message(f.ownBotMessage);
    expect(own.sender.isBot).toBe(true);
    expect(own.sender.id).toBe(own.channel.botUserId);
  });

  it("carries shared files as attachments", () => {
    const m = message(f.fileShare);
    expect(m.content.attachments).toEqual([
      {
        id: "F0RDC39U1",
        name: "chart.png",
        mimeType: "image/png",
        size: 43518,
        url: "https://files.slack.com/files-pri/T061EG9R6-F0RDC39U1/chart.png",
      },
    ]);
    expect(m.content.mentions).toEqual(["U0LAN0Z89"]);
  });

  it("ignores edits, deletions, joins and other event types on purpose", () => {
    expect(normalize(f.messageChanged)).toEqual({ kind: "ignored", reason: "edited", eventType: "message.message_changed" });
    expect(normalize(f.messageDeleted)).toEqual({ kind: "ignored", reason: "deleted", eventType: "message.message_deleted" });
    expect(normalize(f.channelJoin)).toEqual({
      kind: "ignored",
      reason: "unsupported_subtype",
      eventType: "message.channel_join",
    });
    expect(normalize(f.reactionAdded)).toEqual({ kind: "ignored", reason: "unsupported_event", eventType: "reaction_added" });
  });

  it("uses the envelope's team when the event has none (shared-app route has no connection yet)", () => {
    const m = normalize(f.botMessage, null);
    expect(m.kind === "message" && m.message.channel).toMatchObject({ workspaceId: "T061EG9R6", connectionId: null });
  });

  it("rejects malformed envelopes with the failing paths", () => {
    expect(() => normalize({ type: "event_callback" })).toThrow(MessageValidationError);
    expect(() => normalize(f.urlVerification)).toThrow(/\/type/);
    expect(() => normalize({ ...f.appMention, event: { ...f.appMention.event, ts: "yesterday" } })).toThrow(
      MessageValidationError,
    );
  });
});

describe("slack helpers", () => {
  it("converts ts to ISO and rejects non-timestamps", () => {
    expect(slackTsToIso("1355517523.000005")).toBe("2012-12-14T20:38:43.000Z");
    expect(() => slackTsToIso("abc")).toThrow(MessageValidationError);
  });

  it("strips only the bot's own mention", () => {
    expect(stripBotMention("<@U0LAN0Z89> hi <@U999>", "U0LAN0Z89")).toBe("hi <@U999>");
    expect(stripBotMention("<@U0LAN0Z89|konstruct>  what?", "U0LAN0Z89")).toBe("what?");
  });
});
