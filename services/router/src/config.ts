import { fields, intField, listenFields, parseConfig } from "@konstruct/core";
import { Type } from "@sinclair/typebox";
import { DEFAULT_ROUTER_SETTINGS as D } from "./router.ts";

// Defaults are the router's own settings defaults: one home, so `createRouter` in a test and
// the deployed process behave alike.

const RouterConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  LOG_LEVEL: fields.LOG_LEVEL,
  ...listenFields("router"),
  CONCURRENCY: intField(D.concurrency, "inbound messages handled at once by this process"),
  DATABASE_POOL_MAX: intField(10, "PostgreSQL pool size"),
  TENANT_CACHE_TTL_MS: intField(
    D.tenantCacheTtlMs,
    "how long a resolved channel connection is trusted without an invalidation event",
  ),
  ENGAGED_THREAD_TTL_SECONDS: intField(D.engagedThreadTtlSeconds, "how long a thread the bot answered in stays engaged"),
  IDEMPOTENCY_TTL_SECONDS: intField(D.idempotencyTtlSeconds, "how long a delivery is remembered as handled"),
  BOT_LOOP_BUDGET: intField(D.botLoopBudget, "messages answered per pair of bots per window"),
  BOT_LOOP_WINDOW_SECONDS: intField(D.botLoopWindowSeconds, "the bot-pair budget's window"),
  NATS_ACK_WAIT_MS: intField(D.ackWaitMs, "how long NATS waits for an ack before redelivering to another replica", 1_000),
});

/** The router's validated configuration. */
export type RouterConfig = ReturnType<typeof loadConfig>;

/** Reads the router's configuration from `env` once; throws ConfigError listing every bad field. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseConfig(RouterConfigSchema, env);
}
