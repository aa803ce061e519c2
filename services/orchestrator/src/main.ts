import { connectService, serveConsumer } from "@konstruct/core";
import { loadConfig } from "./config.ts";
import { createLlmPool } from "./llm-pool.ts";
import { createOrchestratorMetrics } from "./metrics.ts";
import { createOllamaProvider } from "./ollama-provider.ts";
import { createOpenAiProvider } from "./openai-provider.ts";
import { createOrchestrator, orchestratorConsumer } from "./orchestrator.ts";

// Wiring only: configuration, connections, the LLM pool, the orchestrator, HTTP, shutdown.
const config = loadConfig(process.env);
const { log, db, redis, nc, js } = await connectService({
  name: "orchestrator",
  logLevel: config.LOG_LEVEL,
  databaseUrl: config.DATABASE_URL,
  databasePoolMax: config.DATABASE_POOL_MAX,
  redisUrl: config.REDIS_URL,
  natsUrl: config.NATS_URL,
  consumers: [orchestratorConsumer(config.NATS_ACK_WAIT_MS)],
});
const pool = createLlmPool({
  ollama: createOllamaProvider(config.OLLAMA_URL),
  ...(config.OPENAI_BASE_URL ? { openai: createOpenAiProvider(config.OPENAI_BASE_URL, config.OPENAI_API_KEY) } : {}),
  timeoutMs: config.LLM_TIMEOUT_MS,
  retries: config.LLM_RETRIES,
  retryBaseMs: config.LLM_RETRY_BASE_MS,
  parallel: { ollama: config.OLLAMA_PARALLEL, openai: config.OPENAI_PARALLEL },
});
const metrics = createOrchestratorMetrics({ defaults: true });
const orchestrator = createOrchestrator({
  db,
  redis,
  js,
  nc,
  databaseUrl: config.DATABASE_URL,
  pool,
  log,
  metrics,
  settings: {
    concurrency: config.CONCURRENCY,
    sessionTtlSeconds: config.SESSION_TTL_SECONDS,
    slotWaitMs: config.CONCURRENCY_WAIT_MS,
    // A slot must outlive one model call with its retries, or another run could take it meanwhile.
    slotLeaseMs: Math.max(30_000, config.LLM_TIMEOUT_MS),
    ackWaitMs: config.NATS_ACK_WAIT_MS,
    historyLingerMs: config.HISTORY_LINGER_MS,
  },
});
await serveConsumer({
  name: "orchestrator",
  service: orchestrator,
  log,
  registry: metrics.registry,
  nc,
  redis,
  db,
  port: config.PORT,
  host: config.HOST,
  // Runs can take as long as a model call; Kubernetes' grace period must be longer than this.
  shutdownTimeoutMs: config.LLM_TIMEOUT_MS + 10_000,
  readyFields: { ollama: config.OLLAMA_URL, openai: Boolean(config.OPENAI_BASE_URL) },
});
