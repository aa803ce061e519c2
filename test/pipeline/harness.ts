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
} from "@konstruct/core";
import {
  createLlmPool,
  createOllamaProvider,
  createOrchestrator,
  type Orchestrator,
  type OrchestratorSettings,
  orchestratorConsumer,
} from "@konstruct/orchestrator";
import { createRouter, type Router, type RouterSettings, routerConsumer } from "@konstruct/router";
import { parseReply } from "@konstruct/testkit";
import { AckPolicy, DeliverPolicy, type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";

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
    createOrchestrator({ db, redis, js, databaseUrl: options.databaseUrl, pool, log, settings: orchestratorSettings }),
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
