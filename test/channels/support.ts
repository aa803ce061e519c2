import { randomBytes } from "node:crypto";
import { type ChannelDeps, createChannels, createRedisReplyLedger } from "@konstruct/channels/gateway";
import { connectNats, type Database, encryptSecret, ensureJetStream, outboundConsumer, type SecretKey } from "@konstruct/core";
import { buildApp, createJetStreamPublisher, createMetrics, type GatewayMetrics, startOutboundWorkers } from "@konstruct/gateway";
import { serverUrl } from "@konstruct/testkit";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { pino } from "pino";

// What every channel's end-to-end test sets up the same way: a tenant with one connection of the
// channel and a default agent, and a gateway serving only that channel (webhook and outbound
// worker) over the test's private NATS.

/** One tenant of a channel test: its id, its (suffixed, unique) name and its connection. */
export interface SeededTenant {
  tenantId: string;
  tenantName: string;
  connectionId: string;
}

/**
 * Inserts a tenant (generous limits, so the tests measure the channel and not the budget), one
 * connection of `channel.type` with its credentials sealed for that tenant (none: `null`), and
 * a default agent whose system prompt names the tenant.
 */
export async function seedChannelTenant(
  admin: Kysely<Database>,
  secretKey: SecretKey,
  name: string,
  channel: {
    type: string;
    connectionId: string;
    externalId: string;
    credentials: Record<string, string> | null;
    settings?: Record<string, unknown>;
    name?: string;
    tenantId: string;
  },
): Promise<SeededTenant> {
  const suffix = randomBytes(4).toString("hex");
  const tenantName = `${name}-${suffix}`;
  await admin
    .insertInto("tenants")
    .values({
      id: channel.tenantId,
      name: tenantName,
      display_name: name,
      namespace: `konstruct-${tenantName}`,
      messages_per_minute: 600,
      max_concurrent_runs: 8,
      tokens_per_day: 10_000_000,
      updated_at: new Date(),
    })
    .execute();
  await admin
    .insertInto("channel_connections")
    .values({
      id: channel.connectionId,
      tenant_id: channel.tenantId,
      name: channel.name ?? channel.type,
      channel_type: channel.type,
      external_id: channel.externalId,
      credentials:
        channel.credentials === null ? null : encryptSecret(secretKey, channel.tenantId, JSON.stringify(channel.credentials)),
      ...(channel.settings ? { settings: JSON.stringify(channel.settings) } : {}),
      updated_at: new Date(),
    })
    .execute();
  await admin
    .insertInto("agents")
    .values({
      tenant_id: channel.tenantId,
      name: "helper",
      display_name: `${name} helper`,
      role: "Support",
      system_prompt: `You answer for ${name}.`,
      model: "llama3.2",
      fallback_models: [],
      temperature: 0.2,
      max_history_messages: 20,
      is_default: true,
      channels: [],
      updated_at: new Date(),
    })
    .execute();
  return { tenantId: channel.tenantId, tenantName, connectionId: channel.connectionId };
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
export async function startChannelGateway(options: {
  type: string;
  natsUrl: string;
  db: Kysely<Database>;
  secretKey: SecretKey;
  settings?: Partial<ChannelDeps["settings"]>;
  /** A port known before the start (for settings that name the gateway's own URL); any free one when absent. */
  port?: number;
}): Promise<ChannelGateway> {
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const nc = await connectNats(options.natsUrl, `${options.type}-gateway-test`);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureJetStream(jsm, [{ ...outboundConsumer(options.type), ackWaitMs: 5_000 }]);
  const redis = new Redis(serverUrl("REDIS_ADMIN_URL"), { maxRetriesPerRequest: 1 });
  const metrics = createMetrics();
  const all = await createChannels({
    db: options.db,
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
