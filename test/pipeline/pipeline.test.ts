import { randomUUID } from "node:crypto";
import type { OutboundReply } from "@konstruct/core";
import { RATE_LIMIT_NOTICE } from "@konstruct/router";
import {
  createTestDatabase,
  inboundMessage,
  type OllamaDouble,
  type SeededTenant,
  seedTenant,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectOutbound, type InProcessPipeline, type OutboundCollector, publishInbound, startPipeline } from "./harness.ts";

// The message pipeline end to end from KONSTRUCT_INBOUND to KONSTRUCT_OUTBOUND: two routers
// and two orchestrators in this process (replicas share Redis state and durable consumers),
// real NATS (private to this file), PostgreSQL and Redis; Ollama is the local double.

let testDb: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let outbound: OutboundCollector;
let acme: SeededTenant;
let globex: SeededTenant;

const forMessage = (id: string) => (r: OutboundReply) => r.target.inReplyToMessageId === id;
const repliesTo = (id: string) => outbound.replies.filter(forMessage(id));
const settle = () => new Promise((r) => setTimeout(r, 400));

/** Sends `message`, then a sentinel in the same tenant, and waits for the sentinel's reply: whatever `message` caused is in by then. */
async function quietly(tenant: SeededTenant, send: () => Promise<void>): Promise<void> {
  await send();
  const sentinel = inboundMessage(tenant, { text: "sentinel", channelId: `CSENT${randomUUID().slice(0, 6)}` });
  await publishInbound(pipeline.js, sentinel);
  await outbound.waitFor(() => repliesTo(sentinel.channel.messageId).length === 1);
  await settle();
}

beforeAll(async () => {
  [testDb, nats, ollama] = await Promise.all([createTestDatabase("pipe"), startTestNats(), startOllamaDouble()]);
  ollama.fail("broken-model", "error");
  ollama.fail("missing-model", "not-found");
  acme = await seedTenant(testDb.admin, {
    botId: "BACMEAPP",
    agents: [
      { name: "ada", displayName: "Ada", role: "support engineer at Acme", isDefault: true },
      { name: "billing", displayName: "Bill", role: "billing clerk at Acme", systemPrompt: "Answer invoices only." },
      {
        name: "fallible",
        displayName: "Fallible",
        role: "tester",
        model: "broken-model",
        fallbackModels: ["missing-model", "llama3.2"],
      },
    ],
  });
  globex = await seedTenant(testDb.admin, {
    agents: [{ name: "hank", displayName: "Hank", role: "sales lead at Globex", isDefault: true }],
  });
  pipeline = await startPipeline({
    natsUrl: nats.url,
    databaseUrl: testDb.appUrl,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    ollamaUrl: ollama.url,
    routers: 2,
    orchestrators: 2,
    router: { botLoopBudget: 3 },
  });
  outbound = await collectOutbound(pipeline.js);
});

afterAll(async () => {
  await outbound?.stop();
  await pipeline?.stop();
  await Promise.all([ollama?.close(), nats?.stop()]);
  await testDb?.drop();
});

describe("message pipeline", () => {
  it("answers an @mention exactly once, from the tenant's default agent, in the thread", async () => {
    const message = inboundMessage(acme, { text: "where is my order?" });
    await publishInbound(pipeline.js, message);
    const [reply] = await outbound
      .waitFor(() => repliesTo(message.channel.messageId).length === 1)
      .then(() => repliesTo(message.channel.messageId));
    expect(reply).toMatchObject({
      replyId: `reply:slack:${acme.teamId}:${message.deliveryId}`,
      tenantId: acme.tenantId,
      connectionId: acme.connectionId,
      kind: "answer",
      agent: { id: acme.agents.ada, displayName: "Ada" },
      target: { workspaceId: acme.teamId, channelId: "C0GENERAL", threadId: message.threadId },
    });
    // The bot mention is stripped; the persona comes first in the system prompt.
    expect(reply?.text).toBe("[llama3.2] You are Ada, support engineer at Acme. | history=0 | you said: where is my order?");
    await settle();
    expect(repliesTo(message.channel.messageId)).toHaveLength(1);
  });

  it("answers the same delivery published four times once (first try plus three Slack retries)", async () => {
    const message = inboundMessage(acme, { text: "retry me" });
    // No msgID: NATS's own de-duplication is bypassed, so the router's idempotency is what is tested.
    await Promise.all([0, 1, 2, 3].map(() => publishInbound(pipeline.js, { ...message, id: randomUUID() }, null)));
    await outbound.waitFor(() => repliesTo(message.channel.messageId).length >= 1);
    await quietly(acme, async () => {});
    expect(repliesTo(message.channel.messageId)).toHaveLength(1);
  });

  it("answers one Slack post delivered as both `message` and `app_mention` once", async () => {
    const asMessage = inboundMessage(acme, { text: "twin events" });
    const asMention = { ...asMessage, id: randomUUID(), deliveryId: `${asMessage.deliveryId}X` };
    await Promise.all([publishInbound(pipeline.js, asMessage), publishInbound(pipeline.js, asMention)]);
    await outbound.waitFor(() => repliesTo(asMessage.channel.messageId).length >= 1);
    await quietly(acme, async () => {});
    expect(repliesTo(asMessage.channel.messageId)).toHaveLength(1);
  });

  it("never answers the bot's own messages (by bot user or by the app's bot id)", async () => {
    const byUser = inboundMessage(acme, { text: "I am the bot", senderId: acme.botUserId, isBot: true });
    const byApp = inboundMessage(acme, { text: "me too", senderId: "B0SOMEBOT", isBot: true, botId: "BACMEAPP" });
    await quietly(acme, async () => {
      await publishInbound(pipeline.js, byUser);
      await publishInbound(pipeline.js, byApp);
    });
    expect(repliesTo(byUser.channel.messageId)).toHaveLength(0);
    expect(repliesTo(byApp.channel.messageId)).toHaveLength(0);
  });

  it("stays quiet without a mention or DM, and follows up in a thread it is engaged in", async () => {
    const chatter = inboundMessage(acme, { text: "just chatting", mention: false });
    const dm = inboundMessage(acme, { text: "private question", isDirect: true });
    await quietly(acme, async () => {
      await publishInbound(pipeline.js, chatter);
      await publishInbound(pipeline.js, dm);
    });
    expect(repliesTo(chatter.channel.messageId)).toHaveLength(0);
    expect(repliesTo(dm.channel.messageId)).toHaveLength(1);

    const opener = inboundMessage(acme, { text: "first question", channelId: "C0THREAD" });
    await publishInbound(pipeline.js, opener);
    await outbound.waitFor(() => repliesTo(opener.channel.messageId).length === 1);
    const followUp = inboundMessage(acme, {
      text: "and a follow-up",
      mention: false,
      channelId: "C0THREAD",
      threadId: opener.threadId,
    });
    await publishInbound(pipeline.js, followUp);
    const [reply] = await outbound
      .waitFor(() => repliesTo(followUp.channel.messageId).length === 1)
      .then(() => repliesTo(followUp.channel.messageId));
    // The thread's memory: the opener's question and answer.
    expect(reply?.text).toBe("[llama3.2] You are Ada, support engineer at Acme. | history=2 | you said: and a follow-up");
  });

  it("routes to the agent addressed by name", async () => {
    const message = inboundMessage(acme, { text: "Bill, why was I charged twice?" });
    await publishInbound(pipeline.js, message);
    const [reply] = await outbound
      .waitFor(() => repliesTo(message.channel.messageId).length === 1)
      .then(() => repliesTo(message.channel.messageId));
    expect(reply?.agent?.displayName).toBe("Bill");
    expect(reply?.text).toContain("You are Bill, billing clerk at Acme.");
  });

  it("lets two bots exchange at most the pair's budget of messages, then stops the loop", async () => {
    // Another app's bot answers every reply of ours with an @mention of our bot, in one thread.
    const opener = inboundMessage(acme, {
      text: "ping",
      senderId: "U0OTHERBOT",
      isBot: true,
      botId: "B0OTHER",
      channelId: "C0LOOP",
    });
    const thread = opener.threadId;
    const seen = new Set<string>();
    await publishInbound(pipeline.js, opener);
    const started = Date.now();
    let lastCount = -1;
    let stableSince = Date.now();
    while (Date.now() - started < 15_000) {
      const ours = outbound.replies.filter((r) => r.target.threadId === thread);
      for (const r of ours) {
        if (seen.has(r.replyId)) continue;
        seen.add(r.replyId);
        await publishInbound(
          pipeline.js,
          inboundMessage(acme, {
            text: `pong ${seen.size}`,
            senderId: "U0OTHERBOT",
            isBot: true,
            botId: "B0OTHER",
            channelId: "C0LOOP",
            threadId: thread,
          }),
        );
      }
      if (ours.length !== lastCount) {
        lastCount = ours.length;
        stableSince = Date.now();
      } else if (Date.now() - stableSince > 1_500) {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // Budget 3 for this pair: three answers, then silence however long the other bot goes on.
    expect(outbound.replies.filter((r) => r.target.threadId === thread)).toHaveLength(3);
  });

  it("keeps two tenants' personas and memories apart when they talk in parallel", async () => {
    const turns = 3;
    const run = async (tenant: SeededTenant, who: string) => {
      const thread = `${Date.now()}.${who}`;
      const texts: string[] = [];
      for (let i = 0; i < turns; i++) {
        // Same channel id and thread id in both workspaces: only the tenant keeps them apart.
        const message = inboundMessage(tenant, {
          text: `${who} turn ${i}`,
          channelId: "C0SHARED",
          threadId: thread,
          mention: true,
        });
        await publishInbound(pipeline.js, message);
        const [reply] = await outbound
          .waitFor(() => repliesTo(message.channel.messageId).length === 1)
          .then(() => repliesTo(message.channel.messageId));
        texts.push(reply?.text ?? "");
        expect(reply?.tenantId).toBe(tenant.tenantId);
      }
      return texts;
    };
    const [acmeTexts, globexTexts] = await Promise.all([run(acme, "acme"), run(globex, "globex")]);
    for (let i = 0; i < turns; i++) {
      expect(acmeTexts[i]).toBe(
        `[llama3.2] You are Ada, support engineer at Acme. | history=${2 * i} | you said: acme turn ${i}`,
      );
      expect(globexTexts[i]).toBe(
        `[llama3.2] You are Hank, sales lead at Globex. | history=${2 * i} | you said: globex turn ${i}`,
      );
    }
    // And the model never saw the other tenant's words.
    for (const request of ollama.requests) {
      const prompt = request.messages.map((m) => m.content).join("\n");
      expect(prompt.includes("acme turn") && prompt.includes("globex turn")).toBe(false);
    }
  });

  it("answers from a fallback model when the primary fails, past a model that does not exist", async () => {
    const message = inboundMessage(acme, { text: "Fallible, are you there?" });
    await publishInbound(pipeline.js, message);
    const [reply] = await outbound
      .waitFor(() => repliesTo(message.channel.messageId).length === 1)
      .then(() => repliesTo(message.channel.messageId));
    expect(reply).toMatchObject({ kind: "answer", agent: { displayName: "Fallible" } });
    expect(reply?.text.startsWith("[llama3.2] You are Fallible, tester.")).toBe(true);
    const tried = ollama.requests
      .filter((r) => r.messages.at(-1)?.content === "Fallible, are you there?")
      .map((r) => [r.model, r.status]);
    // broken-model: 500, retried once; missing-model: Ollama's 404, not retried; then the fallback.
    expect(tried).toEqual([
      ["broken-model", 500],
      ["broken-model", 500],
      ["missing-model", 404],
      ["llama3.2", 200],
    ]);
  });

  it("over the tenant's rate limit sends one polite notice per window, not silence and not one per message", async () => {
    const limited = await seedTenant(testDb.admin, {
      messagesPerMinute: 2,
      agents: [{ name: "lim", displayName: "Lim", isDefault: true }],
    });
    // Stay inside one minute window: the limit is a fixed window aligned to the minute.
    const untilNextWindow = 60_000 - (Date.now() % 60_000);
    if (untilNextWindow < 8_000) await new Promise((r) => setTimeout(r, untilNextWindow + 100));
    const messages = Array.from({ length: 6 }, (_, i) => inboundMessage(limited, { text: `burst ${i}` }));
    for (const m of messages) await publishInbound(pipeline.js, m);
    await outbound.waitFor((all) => all.filter((r) => r.tenantId === limited.tenantId).length >= 3);
    await settle();
    const replies = outbound.replies.filter((r) => r.tenantId === limited.tenantId);
    expect(replies.filter((r) => r.kind === "answer")).toHaveLength(2);
    expect(replies.filter((r) => r.kind === "notice")).toEqual([
      expect.objectContaining({ text: RATE_LIMIT_NOTICE, agent: null }),
    ]);
  });
});
