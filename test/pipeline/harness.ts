import {
  connectNats,
  createDatabase,
  createLogger,
  type Database,
  deliveryKey,
  ensureConsumers,
  inboundSubject,
  type KonstructMessage,
  type OutboundReply,
  STREAMS,
  SUBJECT_PREFIX,
  type WorkItem,
} from "@konstruct/core";
import {
  createLlmPool,
  createOllamaProvider,
  createOrchestrator,
  createOrchestratorMetrics,
  createRunHandler,
  createRunState,
  createSessionMemory,
  createTenantSlots,
  type Orchestrator,
  type OrchestratorMetrics,
  type OrchestratorSettings,
  orchestratorConsumer,
  type Publish,
  type TokenLedger,
} from "@konstruct/orchestrator";
import { createRouter, type Router, type RouterSettings, routerConsumer } from "@konstruct/router";
import { parseReply, type SeededTenant } from "@konstruct/testkit";
import { AckPolicy, DeliverPolicy, type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import { type Kysely, sql } from "kysely";

/** Reads every reply on KONSTRUCT_OUTBOUND (after de-duplication by msgID, as an outbound worker would). */
export interface OutboundCollector {
  readonly replies: OutboundReply[];
  /** Waits until `predicate` holds for the replies collected so far. */
  waitFor(predicate: (replies: OutboundReply[]) => boolean, timeoutMs?: number): Promise<OutboundReply[]>;
  stop(): Promise<void>;
}

/**
 * A durable consumer of its own over the whole outbound stream, acknowledging what it reads. The
 * stream is a work queue, which refuses ordered (unacknowledged) consumers and overlapping ones:
 * tests that collect replies run no gateway outbound worker on the same server.
 */
export async function collectOutbound(js: JetStreamClient): Promise<OutboundCollector> {
  const replies: OutboundReply[] = [];
  const jsm = await js.jetstreamManager();
  await jsm.consumers.add(STREAMS.outbound, {
    durable_name: COLLECTOR,
    filter_subject: `${SUBJECT_PREFIX.outbound}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
  const consumer = await js.consumers.get(STREAMS.outbound, COLLECTOR);
  const messages = await consumer.consume();
  const loop = (async () => {
    for await (const m of messages) {
      replies.push(parseReply(m.data));
      m.ack();
    }
  })();
  return {
    replies,
    async waitFor(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(replies)) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for replies; have ${replies.length}: ${JSON.stringify(replies.map((r) => r.text))}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      return replies;
    },
    async stop() {
      await messages.close();
      await loop;
      await jsm.consumers.delete(STREAMS.outbound, COLLECTOR).catch(() => {});
    },
  };
}

const COLLECTOR = "test-outbound-collector";

/**
 * The work item the router publishes for `message` of `tenant`, routed to its connection and to
 * `agentId`, with its encoding as a delivery carries it.
 */
export function routedWorkItem(
  tenant: SeededTenant,
  message: KonstructMessage,
  agentId: string,
): { item: WorkItem; message: KonstructMessage; data: Uint8Array } {
  const routed = { ...message, tenantId: tenant.tenantId, channel: { ...message.channel, connectionId: tenant.connectionId } };
  const item: WorkItem = { message: routed, tenantId: tenant.tenantId, agentId, deliveryKey: deliveryKey(message) };
  return { item, message: routed, data: new TextEncoder().encode(JSON.stringify(item)) };
}

/**
 * The orchestrator's run handler over real PostgreSQL and Redis without NATS: `publish` stands
 * in for the outbound stream, so a test can drive deliveries and redeliveries at chosen points.
 */
export function runHandler(options: {
  db: Kysely<Database>;
  redis: Redis;
  ollamaUrl: string;
  publish: Publish;
  slotWaitMs: number;
  tokens?: TokenLedger;
}): { handle: ReturnType<typeof createRunHandler>; metrics: OrchestratorMetrics } {
  const { db, redis } = options;
  const metrics = createOrchestratorMetrics();
  const handle = createRunHandler({
    db,
    ...(options.tokens ? { tokens: options.tokens } : {}),
    pool: createLlmPool({ ollama: createOllamaProvider(options.ollamaUrl), timeoutMs: 2_000, retries: 1, retryBaseMs: 10 }),
    memory: createSessionMemory(redis, 600),
    slots: createTenantSlots(redis, { leaseMs: 10_000 }),
    state: createRunState(redis, 600),
    publish: options.publish,
    metrics,
    log: createLogger({ name: "run-handler-test", level: "silent" }),
    slotWaitMs: options.slotWaitMs,
    maxDeliver: 5,
  });
  return { handle, metrics };
}

/** Publishes a message on the inbound stream as the gateway does (msgID = delivery key unless given). */
export async function publishInbound(js: JetStreamClient, message: KonstructMessage, msgId?: string | null): Promise<void> {
  await js.publish(inboundSubject(message.channelType), JSON.stringify(message), {
    ...(msgId === null ? {} : { msgID: msgId ?? deliveryKey(message) }),
  });
}

/** Router and orchestrator in this process, over real NATS, PostgreSQL and Redis. */
export interface InProcessPipeline {
  nc: NatsConnection;
  js: JetStreamClient;
  db: Kysely<Database>;
  redis: Redis;
  routers: Router[];
  orchestrators: Orchestrator[];
  stop(): Promise<void>;
}

/** Starts `routers` routers and `orchestrators` orchestrators in-process. */
export async function startPipeline(options: {
  natsUrl: string;
  databaseUrl: string;
  redisUrl: string;
  ollamaUrl: string;
  routers?: number;
  orchestrators?: number;
  router?: Partial<RouterSettings>;
  orchestrator?: Partial<OrchestratorSettings>;
  llm?: { timeoutMs?: number; retries?: number; retryBaseMs?: number };
}): Promise<InProcessPipeline> {
  const log = createLogger({ name: "pipeline-test", level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const nc = await connectNats(options.natsUrl, "pipeline-test");
  const js = jetstream(nc);
  const routerSettings = { ackWaitMs: 5_000, ...options.router };
  const orchestratorSettings = { ackWaitMs: 5_000, slotWaitMs: 2_000, ...options.orchestrator };
  // startTestNats declared the streams (with the test's bounds); the services declare only consumers.
  await ensureConsumers(await jetstreamManager(nc), [
    routerConsumer(routerSettings.ackWaitMs),
    orchestratorConsumer(orchestratorSettings.ackWaitMs),
  ]);
  const db = createDatabase(options.databaseUrl, { max: 8 });
  const redis = new Redis(options.redisUrl, { enableAutoPipelining: true });
  const pool = createLlmPool({
    ollama: createOllamaProvider(options.ollamaUrl),
    timeoutMs: options.llm?.timeoutMs ?? 5_000,
    retries: options.llm?.retries ?? 1,
    retryBaseMs: options.llm?.retryBaseMs ?? 20,
  });
  const routers = Array.from({ length: options.routers ?? 1 }, () =>
    createRouter({ db, redis, js, databaseUrl: options.databaseUrl, log, settings: routerSettings }),
  );
  const orchestrators = Array.from({ length: options.orchestrators ?? 1 }, () =>
    createOrchestrator({ db, redis, js, nc, databaseUrl: options.databaseUrl, pool, log, settings: orchestratorSettings }),
  );
  for (const r of routers) await r.start();
  for (const o of orchestrators) await o.start();
  return {
    nc,
    js,
    db,
    redis,
    routers,
    orchestrators,
    async stop() {
      for (const r of routers) await r.stop();
      for (const o of orchestrators) await o.stop();
      await nc.drain();
      redis.disconnect();
      await db.destroy();
    },
  };
}

/** One message of the conversation history, with its conversation, as an admin reads it. */
export interface HistoryRow {
  message_key: string;
  direction: "inbound" | "reply";
  text: string;
  conversation_id: string;
  thread_key: string;
  message_count: number;
}

/** Every history row of `tenantId` (admin connection, so RLS is not what is tested here). */
export async function historyRows(admin: Kysely<Database>, tenantId: string): Promise<HistoryRow[]> {
  return admin
    .selectFrom("conversation_messages as m")
    .innerJoin("conversations as c", "c.id", "m.conversation_id")
    .select(["m.message_key", "m.direction", "m.text", "m.conversation_id", "c.thread_key", "c.message_count"])
    .where("m.tenant_id", "=", tenantId)
    .orderBy("m.created_at")
    .execute();
}

/**
 * The history promise for `messages` against the replies the outbound stream carried: each
 * message has exactly one inbound row and one reply row, the reply row's text is the text that
 * was published, and every conversation's `message_count` equals the rows it holds.
 */
export async function expectHistoryOnce(
  admin: Kysely<Database>,
  tenantId: string,
  messages: KonstructMessage[],
  replies: readonly OutboundReply[],
): Promise<void> {
  const rows = await historyRows(admin, tenantId);
  const byKey = new Map<string, HistoryRow[]>();
  for (const row of rows) byKey.set(row.message_key, [...(byKey.get(row.message_key) ?? []), row]);
  const problems: string[] = [];
  for (const message of messages) {
    const key = deliveryKey(message);
    const inbound = byKey.get(`inbound:${key}`) ?? [];
    const reply = byKey.get(`reply:${key}`) ?? [];
    const sent = replies.find((r) => r.replyId === `reply:${key}`);
    if (inbound.length !== 1) problems.push(`${key}: ${inbound.length} inbound rows`);
    if (reply.length !== 1) problems.push(`${key}: ${reply.length} reply rows`);
    if (inbound[0]?.text !== message.content.text) problems.push(`${key}: inbound text differs`);
    if (sent === undefined) problems.push(`${key}: no reply was published`);
    else if (reply[0]?.text !== sent.text) problems.push(`${key}: the history's reply is not the published one`);
  }
  const perConversation = new Map<string, { rows: number; count: number }>();
  for (const row of rows) {
    const c = perConversation.get(row.conversation_id) ?? { rows: 0, count: row.message_count };
    c.rows++;
    perConversation.set(row.conversation_id, c);
  }
  for (const [id, c] of perConversation) {
    if (c.rows !== c.count) problems.push(`conversation ${id}: message_count ${c.count} but ${c.rows} rows`);
  }
  // The usage page's per-day counts (migration 0014) count each row once too.
  const counted = await admin
    .selectFrom("conversation_daily_counts")
    .select(sql<string>`coalesce(sum(messages), 0)`.as("n"))
    .where("tenant_id", "=", tenantId)
    .executeTakeFirstOrThrow();
  if (Number(counted.n) !== rows.length)
    problems.push(`daily counts say ${counted.n} messages, the history holds ${rows.length}`);
  if (problems.length > 0) throw new Error(`conversation history is wrong:\n${problems.join("\n")}`);
}
