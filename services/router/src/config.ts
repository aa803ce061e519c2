import { fields, intField, listenFields, parseConfig } from "@konstruct/core";
import { Type } from "@sinclair/typebox";

const RouterConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  LOG_LEVEL: fields.LOG_LEVEL,
  ...listenFields("router"),
  CONCURRENCY: intField(64, "inbound messages handled at once by this process"),
  DATABASE_POOL_MAX: intField(10, "PostgreSQL pool size"),
  TENANT_CACHE_TTL_MS: intField(30_000, "how long a resolved channel connection is trusted without an invalidation event"),
  ENGAGED_THREAD_TTL_SECONDS: intField(7 * 24 * 3600, "how long a thread the bot answered in stays engaged"),
  IDEMPOTENCY_TTL_SECONDS: intField(24 * 3600, "how long a delivery is remembered as handled"),
  BOT_LOOP_BUDGET: intField(5, "messages answered per pair of bots per window"),
  BOT_LOOP_WINDOW_SECONDS: intField(600, "the bot-pair budget's window"),
  NATS_ACK_WAIT_MS: intField(30_000, "how long NATS waits for an ack before redelivering to another replica", 1_000),
});

/** The router's validated configuration. */
export type RouterConfig = ReturnType<typeof loadConfig>;

/** Reads the router's configuration from `env` once; throws ConfigError listing every bad field. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseConfig(RouterConfigSchema, env);
}
