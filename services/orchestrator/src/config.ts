import { fields, intField, listenFields, parseConfig, urlField } from "@konstruct/core";
import { Type } from "@sinclair/typebox";
import { DEFAULT_ORCHESTRATOR_SETTINGS as D } from "./orchestrator.ts";

// Defaults are the orchestrator's own settings defaults: one home, so `createOrchestrator` in a
// test and the deployed process behave alike.

const OrchestratorConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  OLLAMA_URL: fields.OLLAMA_URL,
  OPENAI_BASE_URL: Type.Optional(
    urlField(["http", "https"], "base URL of an OpenAI-compatible API (…/v1); models named `openai:<model>` use it"),
  ),
  OPENAI_API_KEY: Type.Optional(Type.String({ minLength: 1, description: "bearer token of the OpenAI-compatible API" })),
  LOG_LEVEL: fields.LOG_LEVEL,
  ...listenFields("orchestrator"),
  CONCURRENCY: intField(D.concurrency, "work items handled at once by this process"),
  DATABASE_POOL_MAX: intField(10, "PostgreSQL pool size"),
  LLM_TIMEOUT_MS: intField(120_000, "timeout of one model call"),
  LLM_RETRIES: intField(2, "retries of one model after a transient failure, before its fallback", 0),
  LLM_RETRY_BASE_MS: intField(250, "first retry delay; doubles each retry"),
  OLLAMA_PARALLEL: intField(
    4,
    "model calls in flight to Ollama from this process (match Ollama's OLLAMA_NUM_PARALLEL); more wait, tenants taking turns",
    1,
  ),
  OPENAI_PARALLEL: intField(
    64,
    "model calls in flight to the OpenAI-compatible API from this process; more wait, tenants taking turns",
    1,
  ),
  SESSION_TTL_SECONDS: intField(D.sessionTtlSeconds, "how long a conversation's memory lives after its last turn"),
  CONCURRENCY_WAIT_MS: intField(D.slotWaitMs, "how long a run waits in-process for a tenant slot before handing the item back"),
  HISTORY_LINGER_MS: intField(
    D.historyLingerMs,
    "how long a conversation history write waits for others to share its commit (delays only the ack)",
    0,
  ),
  NATS_ACK_WAIT_MS: intField(D.ackWaitMs, "how long NATS waits for an ack (or progress) before redelivering", 1_000),
});

/** The orchestrator's validated configuration. */
export type OrchestratorConfig = ReturnType<typeof loadConfig>;

/** Reads the orchestrator's configuration from `env` once; throws ConfigError listing every bad field. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseConfig(OrchestratorConfigSchema, env);
}
