import { connectService, serveConsumer } from "@konstruct/core";
import { loadConfig } from "./config.ts";
import { createRouterMetrics } from "./metrics.ts";
import { createRouter, routerConsumer } from "./router.ts";

// Wiring only: configuration, connections, the router, the HTTP server, graceful shutdown.
const config = loadConfig(process.env);
const { log, db, redis, nc, js } = await connectService({
  name: "router",
  logLevel: config.LOG_LEVEL,
  databaseUrl: config.DATABASE_URL,
  databasePoolMax: config.DATABASE_POOL_MAX,
  redisUrl: config.REDIS_URL,
  natsUrl: config.NATS_URL,
  consumers: [routerConsumer(config.NATS_ACK_WAIT_MS)],
});
const metrics = createRouterMetrics({ defaults: true });
const router = createRouter({
  db,
  redis,
  databaseUrl: config.DATABASE_URL,
  js,
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
  port: config.PORT,
  host: config.HOST,
  shutdownTimeoutMs: 25_000,
});
