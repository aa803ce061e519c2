import { randomBytes } from "node:crypto";
import { type ChannelDeps, createChannels, createRedisReplyLedger } from "@konstruct/channels/gateway";
import { connectNats, type Database, ensureJetStream, outboundConsumer, type SecretKey, STREAMS } from "@konstruct/core";
import { buildApp, createJetStreamPublisher, createMetrics, type GatewayMetrics, startOutboundWorkers } from "@konstruct/gateway";
import {
  createTestDatabase,
  type OllamaDouble,
  seedTenant,
  serverUrl,
  startOllamaDouble,
  startTestNats,
  type TestDatabase,
  type TestNats,
} from "@konstruct/testkit";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { pino } from "pino";
import { type InProcessPipeline, startPipeline } from "../pipeline/harness.ts";

// What every channel's end-to-end test sets up the same way: a tenant with one connection of the
// channel and a default agent, and a gateway serving only that channel (webhook and outbound
// worker) over the test's private NATS.

/** One tenant of a channel test: its id, its (suffixed, unique) name and its connection. */
export interface SeededChannelTenant {
  tenantId: string;
  tenantName: string;
  connectionId: string;
}

/**
 * The testkit's `seedTenant` with what every channel suite wants: a unique name (`name` plus a
 * suffix, displayed as `name`), generous limits (so the tests measure the channel and not the
 * budget), one connection of `channel.type` with its credentials sealed for that tenant, and a
 * default agent "<name> helper" whose system prompt the Ollama double echoes.
 */
export async function seedChannelTenant(
  admin: Kysely<Database>,
  secretKey: SecretKey,
  name: string,
  channel: {
    type: string;
    tenantId: string;
    connectionId: string;
    externalId: string;
    credentials: Record<string, string> | null;
    settings?: Record<string, unknown>;
  },
): Promise<SeededChannelTenant> {
  const seeded = await seedTenant(admin, {
    tenantId: channel.tenantId,
    name: `${name}-${randomBytes(4).toString("hex")}`,
    displayName: name,
    connection: {
      type: channel.type,
      id: channel.connectionId,
      externalId: channel.externalId,
      credentials: channel.credentials === null ? null : { secretKey, value: channel.credentials },
      ...(channel.settings ? { settings: channel.settings } : {}),
    },
    agents: [
      {
        name: "helper",
        displayName: `${name} helper`,
        role: "Support",
        systemPrompt: `You answer for ${name}.`,
        isDefault: true,
      },
    ],
  });
  return { tenantId: seeded.tenantId, tenantName: seeded.name, connectionId: seeded.connectionId };
}

/**
 * What a channel suite runs besides its own channel: a private database and NATS, the Ollama
 * double, and the real router and orchestrator in-process.
 */
export interface ChannelWorld {
  db: TestDatabase;
  nats: TestNats;
  ollama: OllamaDouble;
  pipeline: InProcessPipeline;
  /** Stops the pipeline and the servers (stop the gateway and the channel's double first). */
  stop(): Promise<void>;
}

export async function startChannelWorld(databaseName: string): Promise<ChannelWorld> {
  const db = await createTestDatabase(databaseName);
  const nats = await startTestNats();
  const ollama = await startOllamaDouble();
  const pipeline = await startPipeline({
    natsUrl: nats.url,
    databaseUrl: db.appUrl,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
    ollamaUrl: ollama.url,
  });
  return {
    db,
    nats,
    ollama,
    pipeline,
    async stop() {
      await pipeline.stop();
      await ollama.close();
      await nats.stop();
      await db.drop();
    },
  };
}

/** Polls `probe` every 50 ms until it returns a value, or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The sum of a gateway counter over the series whose labels include `labels`. */
export async function counterValue(
  gateway: ChannelGateway,
  name: "webhooks" | "posts",
  labels: Record<string, string>,
): Promise<number> {
  const metric = await gateway.metrics[name].get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** The inbound stream's last sequence: unchanged means the gateway published nothing. */
export async function inboundLastSeq(gateway: ChannelGateway): Promise<number> {
  return (await gateway.jsm.streams.info(STREAMS.inbound)).state.last_seq;
}

/** A gateway serving one channel, as the tests drive it. */
export interface ChannelGateway {
  url: string;
  nc: NatsConnection;
  jsm: JetStreamManager;
  metrics: GatewayMetrics;
  redis: Redis;
  stop(): Promise<void>;
}

/**
 * Starts the gateway's routes and outbound worker for `type` only, against the test's NATS,
 * database (as the app role) and the shared Redis. `settings` add the channel's own (its API's
 * URL pointed at its double); Slack's required ones get harmless values.
 */
export async function startChannelGateway(
  world: ChannelWorld,
  options: {
    type: string;
    secretKey: SecretKey;
    settings?: Partial<ChannelDeps["settings"]>;
    /** A port known before the start (for settings that name the gateway's own URL); any free one when absent. */
    port?: number;
  },
): Promise<ChannelGateway> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const nc = await connectNats(world.nats.url, `${options.type}-gateway-test`);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureJetStream(jsm, [{ ...outboundConsumer(options.type), ackWaitMs: 5_000 }]);
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 1 });
  const metrics = createMetrics();
  const all = await createChannels({
    db: world.db.app,
    redis,
    secretKey: options.secretKey,
    publisher: createJetStreamPublisher(js, { timeoutMs: 5_000 }),
    ledger: createRedisReplyLedger(redis),
    metrics,
    log,
    settings: {
      slackSigningSecret: "unused-platform-secret",
      slackApiUrl: "http://127.0.0.1:9/api/",
      staleClaimMs: 1_000,
      ...options.settings,
    },
  });
  const channels = all.filter((channel) => channel.type === options.type);
  const app = await buildApp({ channels, metrics, readiness: [], log });
  const workers = await startOutboundWorkers({ js, channels, concurrency: 4, log });
  const url = await app.listen({ port: options.port ?? 0, host: "127.0.0.1" });
  return {
    url,
    nc,
    jsm,
    metrics,
    redis,
    async stop() {
      await app.close();
      await workers.stop();
      await nc.drain().catch(() => {});
      await redis.quit().catch(() => {});
    },
  };
}
