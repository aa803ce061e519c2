import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connectNats, parseSecretKey, STREAMS } from "@konstruct/core";
import {
  createTestDatabase,
  type OllamaDouble,
  type SeededTenant,
  seedTenant,
  serverUrl,
  signSlackRequest,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../gateway/harness.ts";
import { appMention } from "../gateway/support.ts";
import { newVisitor, seedWebchatTenant, sendMessage, type WebchatTenant } from "../webchat/support.ts";
import { collectOutbound, type InProcessPipeline, type OutboundCollector, startPipeline } from "./harness.ts";

// JetStream streams are bounded work queues: a full inbound stream makes the gateway answer 503
// with Retry-After (Slack and web chat alike), a full work stream makes the router hold what it
// took instead of dead-lettering it, and once the backlog drains everything accepted is answered
// exactly once. Small bounds so a few messages fill the streams; real NATS, PostgreSQL and Redis.

const INBOUND_MAX = 6;
const WORK_MAX = 2;
const PLATFORM_SECRET = "platform-signing-secret-bounded";

let db: TestDatabase;
let nats: TestNats;
let ollama: OllamaDouble;
let gateway: TestGateway;
let admin: NatsConnection;
let jsm: JetStreamManager;
let slackTenant: SeededTenant;
let webchatTenant: WebchatTenant;
const running: InProcessPipeline[] = [];
let outbound: OutboundCollector | undefined;

beforeAll(async () => {
  [db, nats, ollama] = await Promise.all([
    createTestDatabase("bounded"),
    startTestNats({ limits: { [STREAMS.inbound]: { maxMsgs: INBOUND_MAX }, [STREAMS.work]: { maxMsgs: WORK_MAX } } }),
    startOllamaDouble(),
  ]);
  slackTenant = await seedTenant(db.admin, { agents: [{ name: "ada", isDefault: true }] });
  webchatTenant = await seedWebchatTenant(db.admin, { agentName: "Ada", agentRole: "Support", systemPrompt: "You are Ada." });
  gateway = await startTestGateway({
    db: db.app,
    secretKey: parseSecretKey(randomBytes(32).toString("base64")),
    natsUrl: nats.url,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    platformSigningSecret: PLATFORM_SECRET,
  });
  admin = await connectNats(nats.url, "bounded-streams-test");
  jsm = await jetstreamManager(admin);
});

afterAll(async () => {
  await outbound?.stop();
  for (const p of running) await p.stop();
  await gateway?.stop();
  await admin?.close();
  await ollama?.close();
  await nats?.stop();
  await db?.drop();
});

// One Slack message per event id (the router answers a message once, whatever its event ids).
const messageTs = new Map<string, string>();
const slackEvent = (eventId: string) => {
  if (!messageTs.has(eventId))
    messageTs.set(eventId, `${Math.floor(Date.now() / 1000)}.${String(messageTs.size).padStart(6, "0")}`);
  const ts = messageTs.get(eventId);
  const body = appMention(slackTenant.teamId, { eventId, botUserId: slackTenant.botUserId, ...(ts ? { ts } : {}) });
  return fetch(`${gateway.url}/webhooks/slack/events`, {
    method: "POST",
    body,
    headers: signSlackRequest(PLATFORM_SECRET, body),
  });
};

const streamState = async (stream: string) => (await jsm.streams.info(stream)).state;

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function rssKiB(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

describe("bounded JetStream streams", () => {
  const accepted: string[] = [];

  it("declares the pipeline streams as bounded work queues that refuse new messages when full", async () => {
    for (const stream of [STREAMS.inbound, STREAMS.work, STREAMS.outbound]) {
      const { config } = await jsm.streams.info(stream);
      expect(config.retention, stream).toBe("workqueue");
      expect(config.discard, stream).toBe("new");
      expect(config.max_bytes, stream).toBeGreaterThan(0);
      expect(config.max_msgs, stream).toBeGreaterThan(0);
    }
    const deadLetters = (await jsm.streams.info(STREAMS.deadLetter)).config;
    expect([deadLetters.retention, deadLetters.discard]).toEqual(["limits", "old"]);
    expect(deadLetters.max_bytes).toBeGreaterThan(0);
  });

  it("answers 503 with Retry-After once the inbound stream is full, for Slack and the web chat, and acks a retry of what it holds", async () => {
    const before = { nats: rssKiB(nats.pid()), inbound: await streamState(STREAMS.inbound) };
    // Nothing consumes yet: the inbound stream fills up to its bound.
    for (let i = 0; i < INBOUND_MAX; i++) {
      const eventId = `EvFILL${i}`;
      const response = await slackEvent(eventId);
      expect(response.status, eventId).toBe(200);
      accepted.push(eventId);
    }
    const refused = await slackEvent("EvREFUSED");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("30");

    // Slack delivering an accepted event again is still acknowledged: it is stored once already.
    expect((await slackEvent(accepted[0] as string)).status).toBe(200);

    const visitor = await newVisitor(gateway.url, webchatTenant.connectionId);
    const sent = await sendMessage(visitor.base, visitor.token, "hello while full");
    expect(sent.status).toBe(503);
    expect(sent.headers.get("retry-after")).toBe("30");
    expect(((await sent.json()) as { error: string }).error).toBe("unavailable");

    const full = await streamState(STREAMS.inbound);
    expect(full.messages).toBe(INBOUND_MAX);
    console.log(
      `inbound stream full: ${full.messages} messages, ${full.bytes} bytes (was ${before.inbound.bytes}); ` +
        `nats-server RSS ${before.nats} KiB -> ${rssKiB(nats.pid())} KiB`,
    );
  });

  it("holds routed messages while the work stream is full instead of dead-lettering them", async () => {
    // The router alone: it fills the work stream and holds the rest, unacknowledged.
    running.push(await startPipeline({ ...urls(), routers: 1, orchestrators: 0 }));
    await waitUntil("the work stream to fill", async () => (await streamState(STREAMS.work)).messages === WORK_MAX);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await streamState(STREAMS.work)).messages).toBe(WORK_MAX);
    // The router acknowledged the two it routed (a work queue then drops them) and holds the rest:
    // taken once each, never given back, so no delivery counts toward the dead letters.
    expect((await streamState(STREAMS.inbound)).messages).toBe(INBOUND_MAX - WORK_MAX);
    const router = await jsm.consumers.info(STREAMS.inbound, "router");
    expect([router.num_ack_pending, router.num_redelivered]).toEqual([INBOUND_MAX - WORK_MAX, 0]);
    // Room for as many as left: the gateway takes them, then refuses again.
    for (let i = 0; i < WORK_MAX; i++) {
      expect((await slackEvent(`EvROOM${i}`)).status).toBe(200);
      accepted.push(`EvROOM${i}`);
    }
    expect((await slackEvent("EvSTILLFULL")).status).toBe(503);
    expect((await streamState(STREAMS.deadLetter)).messages).toBe(0);
  });

  it("accepts again once drained, and answers everything it accepted exactly once", async () => {
    outbound = await collectOutbound(running[0]?.js as InProcessPipeline["js"]);
    running.push(await startPipeline({ ...urls(), routers: 0, orchestrators: 1 }));
    await waitUntil("the inbound stream to drain", async () => (await streamState(STREAMS.inbound)).messages === 0);

    expect((await slackEvent("EvAFTER")).status).toBe(200);
    accepted.push("EvAFTER");
    const visitor = await newVisitor(gateway.url, webchatTenant.connectionId);
    expect((await sendMessage(visitor.base, visitor.token, "hello after")).status).toBe(202);

    const replies = await outbound.waitFor((r) => r.length >= accepted.length + 1, 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const slackReplies = outbound.replies.filter((r) => r.channelType === "slack").map((r) => r.replyId);
    const expected = accepted.map((eventId) => `reply:slack:${slackTenant.teamId}:${eventId}`);
    expect(slackReplies.sort()).toEqual(expected.sort());
    expect(replies.filter((r) => r.channelType === "webchat")).toHaveLength(1);
    expect((await streamState(STREAMS.deadLetter)).messages).toBe(0);
    for (const stream of [STREAMS.inbound, STREAMS.work, STREAMS.outbound]) {
      expect((await streamState(stream)).messages, stream).toBe(0);
    }
  });
});

function urls() {
  return { natsUrl: nats.url, databaseUrl: db.appUrl, redisUrl: serverUrl("REDIS_ADMIN_URL"), ollamaUrl: ollama.url };
}
