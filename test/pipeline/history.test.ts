import { randomUUID } from "node:crypto";
import {
  type ActivityUpdate,
  createChannelActivity,
  createDatabase,
  createLogger,
  type Database,
  deliveryKey,
  type OutboundReply,
} from "@konstruct/core";
import { conversationThreadKey, type Publish, sessionKey, usageDay } from "@konstruct/orchestrator";
import { createRouter } from "@konstruct/router";
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
import { Redis } from "ioredis";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../operator/harness.ts";
import {
  collectOutbound,
  expectHistoryOnce,
  historyRows,
  type InProcessPipeline,
  type OutboundCollector,
  publishInbound,
  routedWorkItem,
  runHandler,
  startPipeline,
} from "./harness.ts";

// Conversation history as the pipeline writes it: the router and orchestrator in-process over
// real NATS, PostgreSQL and Redis for what lands, and the orchestrator's handler driven directly
// for redeliveries and retried runs at chosen points.

let testDb: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let pipeline: InProcessPipeline;
let outbound: OutboundCollector;
let redis: Redis;
let acme: SeededTenant;
let globex: SeededTenant;
let tenantRole: { name: string; db: Kysely<Database> } | undefined;

const repliesTo = (id: string) => outbound.replies.filter((r) => r.target.inReplyToMessageId === id);

beforeAll(async () => {
  [testDb, nats, ollama] = await Promise.all([createTestDatabase("hist"), startTestNats(), startOllamaDouble()]);
  acme = await seedTenant(testDb.admin, {
    agents: [
      { name: "ada", displayName: "Ada", role: "support engineer", isDefault: true },
      { name: "billing", displayName: "Bill", role: "billing clerk" },
    ],
  });
  globex = await seedTenant(testDb.admin, { agents: [{ name: "hank", displayName: "Hank", isDefault: true }] });
  redis = new Redis(serverUrl("REDIS_ADMIN_URL"));
  pipeline = await startPipeline({
    natsUrl: nats.url,
    databaseUrl: testDb.appUrl,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    ollamaUrl: ollama.url,
    orchestrators: 2,
  });
  outbound = await collectOutbound(pipeline.js);
});

afterAll(async () => {
  await outbound?.stop();
  await pipeline?.stop();
  redis?.disconnect();
  await tenantRole?.db.destroy();
  await Promise.all([ollama?.close(), nats?.stop()]);
  await testDb?.drop();
  if (tenantRole) {
    const c = new pg.Client({ connectionString: serverUrl("DATABASE_ADMIN_URL") });
    await c.connect();
    await c.query(`drop role if exists ${c.escapeIdentifier(tenantRole.name)}`);
    await c.end();
  }
});

async function answered(tenant: SeededTenant, text: string, overrides: Parameters<typeof inboundMessage>[1] = {}) {
  const message = inboundMessage(tenant, { text, ...overrides });
  await publishInbound(pipeline.js, message);
  await outbound.waitFor(() => repliesTo(message.channel.messageId).length === 1);
  // The history is written right after the publish; wait for the run to finish.
  const key = `reply:${deliveryKey(message)}`;
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const row = await testDb.admin
      .selectFrom("conversation_messages")
      .select("id")
      .where("message_key", "=", key)
      .executeTakeFirst();
    if (row) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return { message, reply: repliesTo(message.channel.messageId)[0] as OutboundReply };
}

describe("a connection's activity noted by the router", () => {
  it("is written when the router stops, not lost with the seconds its throttle still holds", async () => {
    const written: ActivityUpdate[] = [];
    const activity = createChannelActivity(async (u) => void written.push(structuredClone(u)), { minIntervalMs: 60_000 });
    const router = createRouter({
      db: testDb.app,
      redis,
      js: pipeline.js,
      log: createLogger({ name: "router-stop-test", level: "silent" }),
      activity,
    });
    activity.event(acme.tenantId, acme.connectionId);
    await eventually(async () => written.length === 1, 5_000, "the first event written at once");
    // The next one waits for the interval (a minute here); a stopping router writes it now.
    activity.event(acme.tenantId, acme.connectionId);
    await router.stop();
    expect(written).toHaveLength(2);
    expect(written[1]?.eventAt?.getTime()).toBeGreaterThanOrEqual(written[0]?.eventAt?.getTime() ?? Number.POSITIVE_INFINITY);
  });
});

describe("conversation history written by the pipeline", () => {
  it("keeps a message and its reply once, with channel, thread, sender, agent, model, tokens and latency", async () => {
    ollama.setLatency(120);
    let exchange: Awaited<ReturnType<typeof answered>>;
    try {
      exchange = await answered(acme, "where is   my order?", { channelId: "C0HISTORY" });
    } finally {
      ollama.setLatency(0);
    }
    const { message, reply } = exchange;
    const key = deliveryKey(message);
    const conversation = await testDb.admin
      .selectFrom("conversations")
      .selectAll()
      .where("tenant_id", "=", acme.tenantId)
      .where("thread_key", "=", `${acme.teamId}/C0HISTORY/${message.threadId}`)
      .executeTakeFirstOrThrow();
    expect(conversation).toMatchObject({
      channel_type: "slack",
      connection_name: acme.connectionName,
      agent_id: acme.agents.ada,
      // The person's words without the bot's mention, whitespace collapsed.
      subject: "where is my order?",
      message_count: 2,
      started_at: new Date(message.timestamp),
    });
    const rows = await testDb.admin
      .selectFrom("conversation_messages")
      .selectAll()
      .where("conversation_id", "=", conversation.id)
      .orderBy("created_at")
      .execute();
    expect(rows).toHaveLength(2);
    // The router noted the connection's last accepted event for the portal (channel_activity, throttled).
    await eventually(
      async () =>
        (await testDb.admin
          .selectFrom("channel_activity")
          .select("last_event_at")
          .where("connection_id", "=", acme.connectionId)
          .where("tenant_id", "=", acme.tenantId)
          .executeTakeFirst()) !== undefined,
      5_000,
      "the connection's last event recorded",
    );
    const [inbound, sent] = rows;
    expect(inbound).toMatchObject({
      tenant_id: acme.tenantId,
      message_key: `inbound:${key}`,
      direction: "inbound",
      sender_id: "U0PERSON",
      sender_name: "A person",
      agent_id: acme.agents.ada,
      agent_name: "Ada",
      model: null,
      prompt_tokens: null,
      text: message.content.text,
      created_at: new Date(message.timestamp),
    });
    expect(sent).toMatchObject({
      message_key: reply.replyId,
      direction: "reply",
      sender_id: acme.botUserId,
      sender_name: "Ada",
      agent_id: acme.agents.ada,
      agent_name: "Ada",
      model: "llama3.2",
      text: reply.text,
    });
    expect(sent?.prompt_tokens).toBeGreaterThan(0);
    expect(sent?.completion_tokens).toBeGreaterThan(0);
    // The model chain's time: the double waited 120 ms.
    expect(sent?.latency_ms).toBeGreaterThanOrEqual(120);
    expect(sent?.latency_ms).toBeLessThan(5_000);
    expect(sent?.created_at.getTime()).toBeGreaterThan(inbound?.created_at.getTime() ?? Number.POSITIVE_INFINITY);
    expect(conversation.last_message_at).toEqual(sent?.created_at);

    // Full-text search over both directions.
    const found = await testDb.admin
      .selectFrom("conversation_messages")
      .select("message_key")
      .where("tenant_id", "=", acme.tenantId)
      .where(sql<boolean>`search @@ plainto_tsquery('simple', ${"order"})`)
      .execute();
    expect(found.map((r) => r.message_key)).toContain(`inbound:${key}`);
  });

  it("adds a thread's follow-up to the same conversation, answered by the agent addressed", async () => {
    const { message: opener } = await answered(acme, "first question", { channelId: "C0FOLLOW" });
    const { message: followUp } = await answered(acme, "Bill, and my invoice?", {
      channelId: "C0FOLLOW",
      threadId: opener.threadId,
    });
    const conversations = await testDb.admin
      .selectFrom("conversations")
      .selectAll()
      .where("thread_key", "=", conversationThreadKey(opener))
      .execute();
    expect(conversations).toHaveLength(1);
    expect(conversations[0]).toMatchObject({ message_count: 4, subject: "first question", agent_id: acme.agents.billing });
    const keys = await testDb.admin
      .selectFrom("conversation_messages")
      .select(["message_key", "agent_name"])
      .where("conversation_id", "=", conversations[0]?.id as string)
      .orderBy("created_at")
      .execute();
    expect(keys.map((k) => k.message_key)).toEqual([
      `inbound:${deliveryKey(opener)}`,
      `reply:${deliveryKey(opener)}`,
      `inbound:${deliveryKey(followUp)}`,
      `reply:${deliveryKey(followUp)}`,
    ]);
    expect(keys.map((k) => k.agent_name)).toEqual(["Ada", "Ada", "Bill", "Bill"]);
  });

  it("writes a delivery published four times (a channel's retries) once", async () => {
    const message = inboundMessage(acme, { text: "retry me", channelId: "C0RETRY" });
    // No msgID: NATS's de-duplication is bypassed, so each copy reaches the router.
    await Promise.all([0, 1, 2, 3].map(() => publishInbound(pipeline.js, { ...message, id: randomUUID() }, null)));
    await outbound.waitFor(() => repliesTo(message.channel.messageId).length >= 1);
    const sentinel = await answered(acme, "sentinel", { channelId: "C0RETRY2" });
    await expectHistoryOnce(testDb.admin, acme.tenantId, [message, sentinel.message], outbound.replies);
  });

  it("keeps two tenants' histories apart; a tenant's login role reads only its own", async () => {
    const a = await answered(acme, "acme's secret plan", { channelId: "C0SAME" });
    const g = await answered(globex, "globex's secret plan", { channelId: "C0SAME" });
    const acmeRows = await historyRows(testDb.admin, acme.tenantId);
    const globexRows = await historyRows(testDb.admin, globex.tenantId);
    expect(acmeRows.map((r) => r.text)).toContain(a.message.content.text);
    expect(acmeRows.map((r) => r.text)).not.toContain(g.message.content.text);
    expect(globexRows.map((r) => r.text)).toEqual([g.message.content.text, g.reply.text]);

    // The app role, scoped to globex, sees only globex's conversations and messages.
    const seen = await testDb.app.transaction().execute(async (trx) => {
      await sql`select set_config('app.current_tenant', ${globex.tenantId}, true)`.execute(trx);
      return {
        conversations: await trx.selectFrom("conversations").select("tenant_id").execute(),
        messages: await trx.selectFrom("conversation_messages").select("tenant_id").execute(),
      };
    });
    expect(new Set(seen.conversations.map((r) => r.tenant_id))).toEqual(new Set([globex.tenantId]));
    expect(new Set(seen.messages.map((r) => r.tenant_id))).toEqual(new Set([globex.tenantId]));

    // A login role as the operator creates it, mapped to acme.
    const name = `konstruct_t_${acme.tenantId.replaceAll("-", "")}_${testDb.name}`.slice(0, 63);
    const password = randomUUID();
    await sql.raw(`create role ${name} login password '${password}' in role konstruct_tenant`).execute(testDb.admin);
    await testDb.admin.insertInto("tenant_roles").values({ role_name: name, tenant_id: acme.tenantId }).execute();
    tenantRole = { name, db: createDatabase(testDb.urlFor(name, password), { max: 1 }) };
    const own = await tenantRole.db.selectFrom("conversation_messages").select(["tenant_id", "text"]).execute();
    expect(new Set(own.map((r) => r.tenant_id))).toEqual(new Set([acme.tenantId]));
    expect(own.map((r) => r.text)).toContain(a.message.content.text);
    const conversations = await tenantRole.db.selectFrom("conversations").select("tenant_id").execute();
    expect(new Set(conversations.map((r) => r.tenant_id))).toEqual(new Set([acme.tenantId]));
    await expect(
      sql`select konstruct_record_history(${acme.tenantId}, 'slack', null, 'x', '', null, null, 'k1', '', null, 't', now(), 'k2', '', 't', null, null, null, null)`.execute(
        tenantRole.db,
      ),
    ).rejects.toThrow(/permission denied/);
    // The orchestrator's set-based write is the app role's alone too.
    await expect(
      sql`select * from konstruct_record_histories(${acme.tenantId}, '[]'::jsonb)`.execute(tenantRole.db),
    ).rejects.toThrow(/permission denied/);
  });
});

describe("conversation history across redeliveries and retried runs", () => {
  let db: Kysely<Database>;
  let tenant: SeededTenant;

  beforeAll(async () => {
    db = createDatabase(testDb.appUrl, { max: 4 });
    tenant = await seedTenant(testDb.admin, { agents: [{ name: "ada", displayName: "Ada", isDefault: true }] });
  });
  afterAll(async () => {
    await db?.destroy();
  });

  /** The orchestrator's handler; `publish` may be replaced to fail like a process dying after it. */
  function handler(publish?: Publish) {
    const sent = new Map<string, OutboundReply>();
    const { handle } = runHandler({
      db,
      redis,
      ollamaUrl: ollama.url,
      // NATS drops a second publish of the same msgID; so does this map.
      publish:
        publish ??
        (async (_subject, value, msgId) => {
          if (!sent.has(msgId)) sent.set(msgId, value as OutboundReply);
        }),
      slotWaitMs: 500,
    });
    return { handle, sent };
  }

  function workItem(text: string, channelId: string) {
    return routedWorkItem(tenant, inboundMessage(tenant, { text, channelId }), tenant.agents.ada!);
  }

  /** The tenant's runs and tokens counted today. */
  const usageToday = async () => {
    const rows = await testDb.admin
      .selectFrom("token_usage")
      .select(["runs", "prompt_tokens", "completion_tokens"])
      .where("tenant_id", "=", tenant.tenantId)
      .where("day", "=", usageDay())
      .execute();
    return {
      runs: rows.reduce((sum, r) => sum + r.runs, 0),
      tokens: rows.reduce((sum, r) => sum + Number(r.prompt_tokens) + Number(r.completion_tokens), 0),
    };
  };

  const count = async (channelId: string) => {
    const c = await testDb.admin
      .selectFrom("conversations")
      .select(["id", "message_count"])
      .where("tenant_id", "=", tenant.tenantId)
      .where("thread_key", "like", `%/${channelId}/%`)
      .execute();
    const rows = await testDb.admin
      .selectFrom("conversation_messages")
      .select(sql<number>`count(*)::int`.as("n"))
      .where("conversation_id", "in", c.length ? c.map((x) => x.id) : [randomUUID()])
      .executeTakeFirstOrThrow();
    return { conversations: c.length, counted: c.reduce((s, x) => s + x.message_count, 0), rows: rows.n };
  };

  it("a work item delivered again after its run completed asks the model once, posts one reply, writes one history and counts its tokens once", async () => {
    // Published as the orchestrator publishes, to the real outbound stream and its duplicate window.
    const duplicates: boolean[] = [];
    const { handle } = handler(async (subject, value, msgId) => {
      duplicates.push((await pipeline.js.publish(subject, JSON.stringify(value), { msgID: msgId })).duplicate);
    });
    const { item, data, message } = workItem("once please, however often delivered", "C0REDELIVER");
    const asked = () => ollama.requests.filter((r) => r.messages.at(-1)?.content.endsWith("however often delivered")).length;
    const before = await usageToday();
    // The second and third find the run completed, with nothing marking it so: each delivers its reply again.
    for (const deliveryCount of [1, 2, 3]) expect(await handle({ data, deliveryCount })).toEqual({ kind: "ack" });

    expect(asked()).toBe(1);
    // Every delivery publishes the settled reply under its reply id; the stream keeps the first.
    expect(duplicates).toEqual([false, true, true]);
    await outbound.waitFor(() => repliesTo(message.channel.messageId).length > 0);
    expect(repliesTo(message.channel.messageId)).toHaveLength(1);
    expect(await redis.llen(sessionKey(tenant.tenantId, message))).toBe(2);
    expect(await count("C0REDELIVER")).toEqual({ conversations: 1, counted: 2, rows: 2 });
    await expectHistoryOnce(testDb.admin, tenant.tenantId, [message], outbound.replies);
    const [reply] = await testDb.admin
      .selectFrom("conversation_messages")
      .select(["prompt_tokens", "completion_tokens"])
      .where("tenant_id", "=", tenant.tenantId)
      .where("message_key", "=", `reply:${item.deliveryKey}`)
      .execute();
    const after = await usageToday();
    expect({ runs: after.runs - before.runs, tokens: after.tokens - before.tokens }).toEqual({
      runs: 1,
      tokens: (reply?.prompt_tokens ?? 0) + (reply?.completion_tokens ?? 0),
    });
    expect(reply?.prompt_tokens).toBeGreaterThan(0);
  });

  it("a run that died right after its publish writes the history on the redelivery, with the text that was sent", async () => {
    const first = handler(async (_subject, value, msgId) => {
      sentFirst.set(msgId, value as OutboundReply);
      throw new Error("process died after the publish");
    });
    const sentFirst = new Map<string, OutboundReply>();
    const { data, message } = workItem("crash after publish", "C0AFTERPUB");
    await expect(first.handle({ data, deliveryCount: 1 })).rejects.toThrow(/died/);
    expect(await count("C0AFTERPUB")).toEqual({ conversations: 0, counted: 0, rows: 0 });
    const second = handler();
    await second.handle({ data, deliveryCount: 2 });
    expect(await count("C0AFTERPUB")).toEqual({ conversations: 1, counted: 2, rows: 2 });
    // The settled reply is reused: the text the first delivery published is the text kept.
    await expectHistoryOnce(testDb.admin, tenant.tenantId, [message], [...sentFirst.values()]);
  });

  it("two deliveries of one item running at once write each message once", async () => {
    ollama.setLatency(150);
    try {
      const { handle, sent } = handler();
      const { data, message } = workItem("twice at once", "C0CONCURRENT");
      await Promise.all([handle({ data, deliveryCount: 1 }), handle({ data, deliveryCount: 2 })]);
      // Both may think; the first settled reply wins, and both try to write it.
      expect(await count("C0CONCURRENT")).toEqual({ conversations: 1, counted: 2, rows: 2 });
      await expectHistoryOnce(testDb.admin, tenant.tenantId, [message], [...sent.values()]);
    } finally {
      ollama.setLatency(0);
    }
  });

  it("the first messages of one thread written at once share one conversation", async () => {
    const { handle, sent } = handler();
    const opener = workItem("opener", "C0RACE");
    const items = Array.from({ length: 6 }, (_, i) => {
      const message = inboundMessage(tenant, { text: `racer ${i}`, channelId: "C0RACE", threadId: opener.message.threadId });
      return routedWorkItem(tenant, message, tenant.agents.ada!);
    });
    await Promise.all(items.map((x) => handle({ data: x.data, deliveryCount: 1 })));
    expect(await count("C0RACE")).toEqual({ conversations: 1, counted: 12, rows: 12 });
    await expectHistoryOnce(
      testDb.admin,
      tenant.tenantId,
      items.map((x) => x.message),
      [...sent.values()],
    );
  });
});
