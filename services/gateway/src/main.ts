import { createChannels, createRedisReplyLedger } from "@konstruct/channels/gateway";
import {
  channelActivityWriter,
  connectNats,
  createChannelActivity,
  createDatabase,
  createLogger,
  ensureConsumers,
  onShutdown,
  outboundConsumer,
  parseSecretKey,
} from "@konstruct/core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import { buildApp } from "./app.ts";
import { loadConfig, slackOAuthSettings, teamsSettings } from "./config.ts";
import { databaseReadiness, natsReadiness } from "./health.ts";
import { createJetStreamPublisher } from "./inbound-publisher.ts";
import { createMetrics } from "./metrics.ts";
import { startOutboundWorkers } from "./outbound/worker.ts";
import { natsReplyDeltaFeed } from "./reply-deltas.ts";

// Wires the gateway, listens, and shuts down in order: stop taking webhooks, finish in-flight
// posts, drain NATS (flushes pending acks), then close the pools.
const config = loadConfig(process.env);
const log = createLogger({ name: "gateway", level: config.LOG_LEVEL });

const nc = await connectNats(config.NATS_URL, "konstruct-gateway");
const js = jetstream(nc);
const db = createDatabase(config.DATABASE_URL, { applicationName: "konstruct-gateway" });
const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
redis.on("error", (error) => log.warn({ err: error }, "Redis connection error"));
const metrics = createMetrics({ defaults: true });
// Delivery errors per connection for the portal: at most one write per connection every 5 s.
const activity = createChannelActivity(channelActivityWriter(db), { log });

const channels = await createChannels({
  db,
  secretKey: parseSecretKey(config.KONSTRUCT_SECRET_KEY),
  publisher: createJetStreamPublisher(js),
  redis,
  ledger: createRedisReplyLedger(redis),
  replyDeltas: natsReplyDeltaFeed(nc),
  activity,
  metrics,
  log,
  settings: {
    slackSigningSecret: config.SLACK_SIGNING_SECRET,
    slackApiUrl: config.SLACK_API_URL,
    telegramApiUrl: config.TELEGRAM_API_URL,
    slackOAuth: slackOAuthSettings(config),
    teams: teamsSettings(config),
    whatsappApiUrl: config.WHATSAPP_API_URL,
    webchatSessionSecret: config.WEBCHAT_SESSION_SECRET,
    webchatPreviousSessionSecret: config.WEBCHAT_SESSION_PREVIOUS_SECRET,
  },
});
// checkAPI off: the account-info request it sends is not in the gateway's NATS permissions.
await ensureConsumers(
  await jetstreamManager(nc, { checkAPI: false }),
  channels.map((channel) => outboundConsumer(channel.type)),
  { onWaiting: (stream, delayMs) => log.warn({ stream, delayMs }, "stream not declared yet; waiting for the JetStream set-up") },
);
const app = await buildApp({
  channels,
  metrics,
  readiness: [natsReadiness(nc), databaseReadiness(db)],
  log,
  trustedProxies: config.TRUSTED_PROXIES,
});
const workers = await startOutboundWorkers({
  js,
  channels,
  concurrency: config.OUTBOUND_CONCURRENCY,
  log,
  onPoison: (channel) => metrics.posts.inc({ channel, result: "poison" }),
});
await app.listen({ port: config.PORT, host: config.HOST });

onShutdown(log, 25_000, [
  ["http", () => app.close()],
  ["outbound workers", () => workers.stop()],
  ["nats", () => nc.drain()],
  ["redis", () => redis.quit()],
  ["channel activity", () => activity.flush()],
  ["database", () => db.destroy()],
]);
