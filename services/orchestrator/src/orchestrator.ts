import { CONSUMERS, type ConsumerSpec, type Database, type Logger, publishJson, runConsumer } from "@konstruct/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { LlmPool } from "./llm-pool.ts";
import { createOrchestratorMetrics, type OrchestratorMetrics } from "./metrics.ts";
import { createRunHandler } from "./run-agent.ts";
import { createRunState } from "./run-state.ts";
import { createSessionMemory } from "./session-memory.ts";
import { createTenantSlots } from "./tenant-slots.ts";

/** Tunables of an orchestrator; main.ts fills them from the configuration. */
export interface OrchestratorSettings {
  concurrency: number;
  sessionTtlSeconds: number;
  /** How long a run's progress is remembered (redeliveries come within minutes). */
  runStateTtlSeconds: number;
  slotWaitMs: number;
  /** Lease of a tenant slot; a live run renews it, a crashed one frees it after this long. */
  slotLeaseMs: number;
  ackWaitMs: number;
}

/** What an orchestrator runs on. */
export interface OrchestratorDeps {
  db: Kysely<Database>;
  redis: Redis;
  js: JetStreamClient;
  pool: LlmPool;
  log: Logger;
  settings?: Partial<OrchestratorSettings>;
  metrics?: OrchestratorMetrics;
}

/** An orchestrator: consumes `KONSTRUCT_WORK`, runs agents, publishes replies. */
export interface Orchestrator {
  readonly consumer: ConsumerSpec;
  readonly metrics: OrchestratorMetrics;
  readonly running: boolean;
  start(): Promise<void>;
  /** Stops pulling and waits for in-flight runs; does not close the connections it was given. */
  stop(): Promise<void>;
}

export const DEFAULT_ORCHESTRATOR_SETTINGS: OrchestratorSettings = {
  concurrency: 32,
  sessionTtlSeconds: 7 * 24 * 3600,
  runStateTtlSeconds: 24 * 3600,
  slotWaitMs: 10_000,
  slotLeaseMs: 30_000,
  ackWaitMs: CONSUMERS.orchestrator.ackWaitMs,
};

/** The consumer spec with this deployment's ack wait. */
export function orchestratorConsumer(ackWaitMs: number): ConsumerSpec {
  return { ...CONSUMERS.orchestrator, ackWaitMs };
}

/** Builds an orchestrator from its connections and LLM pool; call `start()` to begin consuming. */
export function createOrchestrator(deps: OrchestratorDeps): Orchestrator {
  const settings = { ...DEFAULT_ORCHESTRATOR_SETTINGS, ...deps.settings };
  const metrics = deps.metrics ?? createOrchestratorMetrics();
  const consumer = orchestratorConsumer(settings.ackWaitMs);
  const handle = createRunHandler({
    db: deps.db,
    pool: deps.pool,
    memory: createSessionMemory(deps.redis, settings.sessionTtlSeconds),
    slots: createTenantSlots(deps.redis, { leaseMs: settings.slotLeaseMs }),
    state: createRunState(deps.redis, settings.runStateTtlSeconds),
    publish: (subject, value, msgId) => publishJson(deps.js, subject, value, msgId),
    metrics,
    log: deps.log,
    slotWaitMs: settings.slotWaitMs,
    maxDeliver: consumer.maxDeliver,
  });
  let running: Awaited<ReturnType<typeof runConsumer>> | null = null;
  return {
    consumer,
    metrics,
    get running() {
      return running !== null;
    },
    async start() {
      if (running) return;
      running = await runConsumer({
        js: deps.js,
        consumer,
        concurrency: settings.concurrency,
        log: deps.log,
        handler: (msg) => handle({ data: msg.data, deliveryCount: msg.info.deliveryCount }),
        onOutcome: (outcome) => metrics.outcomes.inc({ outcome: outcome.kind }),
      });
      deps.log.info({ consumer: consumer.durable, concurrency: settings.concurrency }, "orchestrator consuming");
    },
    async stop() {
      const current = running;
      running = null;
      await current?.stop();
    },
  };
}
