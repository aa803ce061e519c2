import { parseMessage } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { stripTelegramBotMention } from "./definition.ts";
import { needsBotUsername, normalizeTelegramUpdate } from "./normalize.ts";

const BOT = { id: 7001, username: "acme_helper_bot" };
const options = { connectionId: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c01", botId: String(BOT.id), botUsername: BOT.username };
const person = { id: 42, is_bot: false, first_name: "Ada", last_name: "L", username: "ada" };
const group = { id: -100555, type: "supergroup", title: "Team" };

function update(message: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { update_id: 900001, message: { message_id: 17, date: 1_700_000_000, from: person, ...message }, ...extra };
}

const normalize = (body: unknown) => normalizeTelegramUpdate(body, options);

describe("normalizeTelegramUpdate", () => {
  it("makes a private chat's text a direct message threaded by the chat, with update_id as delivery id", () => {
    const result = normalize(update({ chat: { id: 42, type: "private" }, text: "what is our refund policy?" }));
    expect(result.kind).toBe("message");
    if (result.kind !== "message") return;
    const m = parseMessage(result.message);
    expect(m.channelType).toBe("telegram");
    expect(m.channel).toMatchObject({ workspaceId: "7001", channelId: "42", messageId: "17", isDirect: true, botUserId: "7001" });
    expect(m.sender).toEqual({ id: "42", displayName: "Ada L", isBot: false, botId: null });
    expect(m.threadId).toBe("42");
    expect(m.deliveryId).toBe("900001");
    expect(m.timestamp).toBe("2023-11-14T22:13:20.000Z");
    expect(m.content.mentionsBot).toBe(false);
  });

  it("engages in a group on an @mention of the bot, threading addressed messages by the chat", () => {
    const text = "@acme_helper_bot what is our refund policy?";
    const result = normalize(update({ chat: group, text, entities: [{ type: "mention", offset: 0, length: 16 }] }));
    if (result.kind !== "message") throw new Error("not a message");
    expect(result.message.channel.isDirect).toBe(false);
    expect(result.message.content.mentionsBot).toBe(true);
    expect(result.message.content.mentions).toEqual(["7001"]);
    expect(result.message.threadId).toBe("-100555");
  });

  it("matches the username case-insensitively and counts a /command@bot", () => {
    const text = "/help@Acme_Helper_Bot";
    const result = normalize(update({ chat: group, text, entities: [{ type: "bot_command", offset: 0, length: text.length }] }));
    if (result.kind !== "message") throw new Error("not a message");
    expect(result.message.content.mentionsBot).toBe(true);
  });

  it("engages in a group on a reply to the bot's message", () => {
    const result = normalize(
      update({ chat: group, text: "and for shoes?", reply_to_message: { message_id: 16, from: { id: BOT.id, is_bot: true } } }),
    );
    if (result.kind !== "message") throw new Error("not a message");
    expect(result.message.content.mentionsBot).toBe(true);
    expect(result.message.threadId).toBe("-100555");
  });

  it("leaves group chatter unaddressed, each message a thread of its own", () => {
    for (const message of [
      { chat: group, text: "lunch?" },
      { chat: group, text: "@someone_else hi", entities: [{ type: "mention", offset: 0, length: 13 }] },
      { chat: group, text: "sure", reply_to_message: { message_id: 16, from: person } },
      { chat: group, text: "/help", entities: [{ type: "bot_command", offset: 0, length: 5 }] },
    ]) {
      const result = normalize(update(message));
      if (result.kind !== "message") throw new Error("not a message");
      expect(result.message.content.mentionsBot).toBe(false);
      expect(result.message.threadId).toBe("-100555:17");
    }
  });

  it("does not take a forum topic's implicit root for a reply, and threads addressed topic messages by topic", () => {
    const inTopic = { chat: { ...group, is_forum: true }, message_thread_id: 5, is_topic_message: true };
    const root = { message_id: 5, from: { id: BOT.id, is_bot: true } };
    const plain = normalize(update({ ...inTopic, text: "hello", reply_to_message: root }));
    if (plain.kind !== "message") throw new Error("not a message");
    expect(plain.message.content.mentionsBot).toBe(false);
    const text = "@acme_helper_bot hi";
    const addressed = normalize(
      update({ ...inTopic, text, reply_to_message: root, entities: [{ type: "mention", offset: 0, length: 16 }] }),
    );
    if (addressed.kind !== "message") throw new Error("not a message");
    expect(addressed.message.threadId).toBe("-100555:topic:5");
  });

  it("ignores edits, other update kinds, non-text, the bot's own messages and other bots", () => {
    expect(normalize({ update_id: 1, edited_message: { message_id: 1 } })).toMatchObject({ kind: "ignored", reason: "edited" });
    expect(normalize({ update_id: 1, channel_post: { message_id: 1 } })).toMatchObject({
      kind: "ignored",
      reason: "unsupported_update",
      updateType: "channel_post",
    });
    expect(normalize(update({ chat: group, photo: [] }))).toMatchObject({ reason: "non_text" });
    expect(normalize(update({ chat: group, text: "hi", from: { id: BOT.id, is_bot: true } }))).toMatchObject({
      reason: "own_message",
    });
    expect(normalize(update({ chat: { id: 42, type: "private" }, text: "hi", from: { id: 9, is_bot: true } }))).toMatchObject({
      reason: "bot",
    });
  });

  it("rejects an update that is not the Bot API's shape", () => {
    expect(() => normalize({ update_id: "x", message: {} })).toThrow();
  });

  it("asks for the bot's username only for group messages that name someone", () => {
    expect(needsBotUsername(update({ chat: { id: 42, type: "private" }, text: "@x", entities: [{ type: "mention" }] }))).toBe(
      false,
    );
    expect(needsBotUsername(update({ chat: group, text: "hi" }))).toBe(false);
    expect(needsBotUsername(update({ chat: group, text: "@x", entities: [{ type: "mention" }] }))).toBe(true);
  });
});

describe("stripTelegramBotMention", () => {
  it("removes bot handles and a command's @bot suffix, keeping the question", () => {
    expect(stripTelegramBotMention("@acme_helper_bot what is our refund policy?", "7001")).toBe("what is our refund policy?");
    expect(stripTelegramBotMention("/help@Acme_Helper_Bot", "7001")).toBe("/help");
    expect(stripTelegramBotMention("ask @ada about it", "7001")).toBe("ask @ada about it");
  });
});
