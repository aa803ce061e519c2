import { connectNats, createDatabase, createLogger, ensureJetStream, serveConsumer } from "@konstruct/core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Redis } from "ioredis";
import { loadConfig } from "./config.ts";
import { createRouterMetrics } from "./metrics.ts";
import { createRouter, routerConsumer } from "./router.ts";

// Wiring only: configuration, connections, the router, the HTTP server, graceful shutdown.
const config = loadConfig(process.env);
const log = createLogger({ name: "router", level: config.LOG_LEVEL });
const db = createDatabase(config.DATABASE_URL, { max: config.DATABASE_POOL_MAX, applicationName: "konstruct-router" });
// Auto-pipelining: commands issued in the same tick by concurrent handlers share one write.
const redis = new Redis(config.REDIS_URL, { lazyConnect: false, enableAutoPipelining: true });
redis.on("error", (err) => log.warn({ err }, "redis connection error"));
const nc = await connectNats(config.NATS_URL, "konstruct-router");
await ensureJetStream(await jetstreamManager(nc), [routerConsumer(config.NATS_ACK_WAIT_MS)]);
const metrics = createRouterMetrics({ defaults: true });
const router = createRouter({
  db,
  redis,
  databaseUrl: config.DATABASE_URL,
  js: jetstream(nc),
  log,
  metrics,
  settings: {
    concurrency: config.CONCURRENCY,
    tenantCacheTtlMs: config.TENANT_CACHE_TTL_MS,
    engagedThreadTtlSeconds: config.ENGAGED_THREAD_TTL_SECONDS,
    idempotencyTtlSeconds: config.IDEMPOTENCY_TTL_SECONDS,
    botLoopBudget: config.BOT_LOOP_BUDGET,
    botLoopWindowSeconds: config.BOT_LOOP_WINDOW_SECONDS,
    ackWaitMs: config.NATS_ACK_WAIT_MS,
  },
});
await serveConsumer({
  name: "router",
  service: router,
  log,
  registry: metrics.registry,
  nc,
  redis,
  db,
  port: config.HTTP_PORT,
  host: config.HTTP_HOST,
  shutdownTimeoutMs: 25_000,
});
