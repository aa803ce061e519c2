import { randomBytes, randomUUID } from "node:crypto";
import { type Database, parseSecretKey } from "@konstruct/core";
import { startTelegramApi, type TelegramApiDouble, type TelegramSentMessage } from "@konstruct/testkit";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ChannelGateway,
  type ChannelWorld,
  counterValue,
  inboundLastSeq,
  seedChannelTenant,
  startChannelGateway,
  startChannelWorld,
  waitFor,
} from "./support.ts";

// Telegram end to end: the gateway's Telegram channel (webhook and outbound worker), the real
// router and orchestrator in-process over a private NATS, real PostgreSQL and Redis, the Ollama
// double answering, and the Bot API double receiving sendMessage.

const SECRET_KEY = parseSecretKey(randomBytes(32).toString("base64"));

interface TelegramTenant {
  tenantId: string;
  connectionId: string;
  botId: number;
  username: string;
  botToken: string;
  webhookSecret: string;
  prompt: string;
}

let telegram: TelegramApiDouble;
let world: ChannelWorld;
let gateway: ChannelGateway;
let acme: TelegramTenant;
let globex: TelegramTenant;
let nextUpdateId = 500_000;
let nextMessageId = 1;

async function seedTelegramTenant(admin: Kysely<Database>, name: string): Promise<TelegramTenant> {
  const tenantId = randomUUID();
  const suffix = randomBytes(4).toString("hex");
  const botId = 100_000_000 + Math.floor(Math.random() * 800_000_000);
  const tenant: TelegramTenant = {
    tenantId,
    connectionId: randomUUID(),
    botId,
    username: `${name}_${suffix}_bot`,
    botToken: `${botId}:${randomBytes(16).toString("hex")}`,
    webhookSecret: randomBytes(24).toString("base64url"),
    // The orchestrator opens the system prompt with the agent's name, which the Ollama double echoes.
    prompt: `You are ${name} helper,`,
  };
  await seedChannelTenant(admin, SECRET_KEY, name, {
    type: "telegram",
    tenantId,
    connectionId: tenant.connectionId,
    externalId: String(botId),
    credentials: { botToken: tenant.botToken, webhookSecret: tenant.webhookSecret },
  });
  return tenant;
}

function startTelegramGateway(): Promise<ChannelGateway> {
  return startChannelGateway(world, {
    type: "telegram",
    secretKey: SECRET_KEY,
    settings: { telegramApiUrl: telegram.url },
  });
}

beforeAll(async () => {
  world = await startChannelWorld("telegram");
  acme = await seedTelegramTenant(world.db.admin, "acme");
  globex = await seedTelegramTenant(world.db.admin, "globex");
  telegram = await startTelegramApi({
    bots: {
      [acme.botToken]: { id: acme.botId, username: acme.username },
      [globex.botToken]: { id: globex.botId, username: globex.username },
    },
  });
  gateway = await startTelegramGateway();
});

afterAll(async () => {
  await gateway?.stop();
  await telegram?.close();
  await world?.stop();
});

// --- helpers -------------------------------------------------------------------------------

const person = { id: 4242, is_bot: false, first_name: "Ada" };

function privateUpdate(text: string, chatId = 4242, from: Record<string, unknown> = person) {
  return {
    update_id: nextUpdateId++,
    message: {
      message_id: nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      from,
      chat: { id: chatId, type: "private", first_name: "Ada" },
      text,
    },
  };
}

function groupUpdate(chatId: number, text: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: nextUpdateId++,
    message: {
      message_id: nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      from: person,
      chat: { id: chatId, type: "supergroup", title: "Team" },
      text,
      ...extra,
    },
  };
}

async function deliver(tenant: TelegramTenant, body: unknown, secret: string | null = tenant.webhookSecret) {
  const response = await fetch(`${gateway.url}/webhooks/telegram/${tenant.connectionId}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(secret === null ? {} : { "x-telegram-bot-api-secret-token": secret }) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

const repliesTo = (tenant: TelegramTenant, chatId: number | string): TelegramSentMessage[] =>
  telegram.sent({ chatId: String(chatId), botId: tenant.botId });

const replyTo = (tenant: TelegramTenant, chatId: number, messageId: number) =>
  waitFor(`a reply to message ${messageId}`, () => repliesTo(tenant, chatId).find((m) => m.reply_to_message_id === messageId));

// --- tests ---------------------------------------------------------------------------------

describe("Telegram webhook verification", () => {
  it("rejects a forged, missing or other bot's secret token with 401 before reading the body, and publishes nothing", async () => {
    const before = await inboundLastSeq(gateway);
    const update = privateUpdate("let me in");
    for (const secret of [null, "", "forged-secret", globex.webhookSecret, `${acme.webhookSecret}x`]) {
      const result = await deliver(acme, update, secret);
      expect(result.status, String(secret)).toBe(401);
      expect(JSON.parse(result.text)).toEqual({ error: "unauthorized" });
    }
    // Not JSON at all: still only the token decides, so the parser never ran.
    expect((await deliver(acme, "{not json", "forged-secret")).status).toBe(401);
    // An unknown connection answers exactly like a wrong token.
    const unknown = await fetch(`${gateway.url}/webhooks/telegram/${randomUUID()}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": acme.webhookSecret },
      body: JSON.stringify(update),
    });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toEqual({ error: "unauthorized" });
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(await counterValue(gateway, "webhooks", { channel: "telegram", result: "unauthorized" })).toBeGreaterThanOrEqual(7);
  });
});

describe("Telegram private chats", () => {
  it("answers a verified private message exactly once, from the right tenant's agent, also when Telegram redelivers the update", async () => {
    const chatId = 5001;
    const update = privateUpdate("what is our refund policy?", chatId);
    expect((await deliver(acme, update)).status).toBe(200);
    expect((await deliver(acme, update)).status).toBe(200); // Telegram's redelivery: same update_id
    const reply = await replyTo(acme, chatId, update.message.message_id);
    expect(reply.text).toContain(acme.prompt);
    expect(reply.text).toContain("you said: what is our refund policy?");
    expect(await counterValue(gateway, "webhooks", { channel: "telegram", result: "duplicate" })).toBeGreaterThanOrEqual(1);

    // A later message's reply has arrived: the redelivery had its chance and posted nothing.
    const later = privateUpdate("thanks", chatId);
    await deliver(acme, later);
    const second = await replyTo(acme, chatId, later.message.message_id);
    expect(second.text).toContain("history=2");
    expect(repliesTo(acme, chatId).filter((m) => m.reply_to_message_id === update.message.message_id)).toHaveLength(1);
    expect(repliesTo(globex, chatId)).toHaveLength(0);
  });

  it("gives the bot's own messages and other bots' messages no answer, and says why in the metrics", async () => {
    const chatId = 5002;
    const own = privateUpdate("I am the bot", chatId, { id: acme.botId, is_bot: true, first_name: "Acme" });
    const otherBot = privateUpdate("I am another bot", chatId, { id: 777, is_bot: true, first_name: "Other" });
    const before = await inboundLastSeq(gateway);
    expect((await deliver(acme, own)).status).toBe(200);
    expect((await deliver(acme, otherBot)).status).toBe(200);
    expect(await inboundLastSeq(gateway)).toBe(before);
    expect(await counterValue(gateway, "webhooks", { channel: "telegram", result: "ignored_own_message" })).toBe(1);
    expect(await counterValue(gateway, "webhooks", { channel: "telegram", result: "ignored_bot" })).toBe(1);

    const person = privateUpdate("hello", chatId);
    await deliver(acme, person);
    await replyTo(acme, chatId, person.message.message_id);
    expect(repliesTo(acme, chatId)).toHaveLength(1);
  });

  it("waits out a 429's retry_after, then posts once", async () => {
    const chatId = 5003;
    telegram.failNext(1, { status: 429, retryAfter: 2 }, "sendMessage");
    const update = privateUpdate("are you busy?", chatId);
    await deliver(acme, update);
    await replyTo(acme, chatId, update.message.message_id);
    const calls = telegram.calls.filter((c) => c.method === "sendMessage" && c.args.chat_id === String(chatId));
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(repliesTo(acme, chatId)).toHaveLength(1);
  });

  it("dead-letters a reply whose sendMessage failed with a 5xx instead of posting it again (Telegram offers no way to look)", async () => {
    const chatId = 5004;
    const poisonBefore = await counterValue(gateway, "posts", { channel: "telegram", result: "poison" });
    telegram.failNext(1, { status: 502, description: "Bad Gateway" }, "sendMessage");
    const update = privateUpdate("will this arrive?", chatId);
    await deliver(acme, update);
    await waitFor("the reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "telegram", result: "poison" })) > poisonBefore ? true : undefined,
    );
    const calls = telegram.calls.filter((c) => c.method === "sendMessage" && c.args.chat_id === String(chatId));
    expect(calls.map((c) => c.status)).toEqual([502]);
    expect(repliesTo(acme, chatId)).toHaveLength(0);
  });

  it("posts once when sendMessage landed but its answer was lost: never a second copy", async () => {
    const chatId = 5005;
    const poisonBefore = await counterValue(gateway, "posts", { channel: "telegram", result: "poison" });
    telegram.failNext(1, { dropResponse: true }, "sendMessage");
    const update = privateUpdate("did you get that?", chatId);
    await deliver(acme, update);
    await waitFor("the interrupted reply to be dead-lettered", async () =>
      (await counterValue(gateway, "posts", { channel: "telegram", result: "poison" })) > poisonBefore ? true : undefined,
    );
    expect(repliesTo(acme, chatId)).toHaveLength(1);
  });
});

describe("Telegram tenants", () => {
  it("keeps a second tenant's bot to its own messages", async () => {
    const chatId = 5006;
    const forAcme = privateUpdate("acme question", chatId);
    const forGlobex = privateUpdate("globex question", chatId);
    // Globex's secret opens only Globex's webhook.
    expect((await deliver(acme, forGlobex, globex.webhookSecret)).status).toBe(401);
    await deliver(acme, forAcme);
    await deliver(globex, forGlobex);
    const acmeReply = await replyTo(acme, chatId, forAcme.message.message_id);
    const globexReply = await replyTo(globex, chatId, forGlobex.message.message_id);
    expect(acmeReply.text).toContain(acme.prompt);
    expect(globexReply.text).toContain(globex.prompt);
    expect(repliesTo(acme, chatId)).toHaveLength(1);
    expect(repliesTo(globex, chatId)).toHaveLength(1);
    // Each bot's replies went out with its own token.
    const tokens = new Set(telegram.calls.filter((c) => c.args.chat_id === String(chatId)).map((c) => c.token));
    expect(tokens).toEqual(new Set([acme.botToken, globex.botToken]));
  });
});

describe("Telegram groups", () => {
  it("engages only when mentioned or replied to", async () => {
    const chatId = -1_000_000_777;
    const chatter = groupUpdate(chatId, "lunch at noon?");
    const other = groupUpdate(chatId, "@someone_else hi", { entities: [{ type: "mention", offset: 0, length: 13 }] });
    const mention = `@${acme.username}`;
    const asked = groupUpdate(chatId, `${mention} where is the office?`, {
      entities: [{ type: "mention", offset: 0, length: mention.length }],
    });
    await deliver(acme, chatter);
    await deliver(acme, other);
    await deliver(acme, asked);
    const answer = await replyTo(acme, chatId, asked.message.message_id);
    expect(answer.text).toContain("you said: where is the office?");

    // A reply to the bot's answer engages without a mention, in the same conversation.
    const followUp = groupUpdate(chatId, "and parking?", {
      reply_to_message: { message_id: answer.message_id, from: { id: acme.botId, is_bot: true, first_name: "Acme" } },
    });
    await deliver(acme, followUp);
    const second = await replyTo(acme, chatId, followUp.message.message_id);
    expect(second.text).toContain("history=2");

    // Chatter after the bot spoke still does not engage it.
    const more = groupUpdate(chatId, "see you there");
    await deliver(acme, more);
    const last = groupUpdate(chatId, `${mention} thanks`, { entities: [{ type: "mention", offset: 0, length: mention.length }] });
    await deliver(acme, last);
    await replyTo(acme, chatId, last.message.message_id);
    expect(repliesTo(acme, chatId).map((m) => m.reply_to_message_id)).toEqual([
      asked.message.message_id,
      followUp.message.message_id,
      last.message.message_id,
    ]);
    expect(telegram.calls.filter((c) => c.method === "getMe" && c.token === acme.botToken)).toHaveLength(1);
  });
});
