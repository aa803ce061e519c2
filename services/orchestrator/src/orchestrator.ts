import {
  CONSUMERS,
  type ConsumerSpec,
  createConsumerLoop,
  type Database,
  type Logger,
  publishJson,
  type ReplyDelta,
  replyStreamSubject,
} from "@konstruct/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createHistoryWriter } from "./history-writer.ts";
import type { LlmPool } from "./llm-pool.ts";
import { createOrchestratorMetrics, type OrchestratorMetrics } from "./metrics.ts";
import { createRunHandler } from "./run-agent.ts";
import { createRunContexts } from "./run-context-cache.ts";
import { createRunState } from "./run-state.ts";
import { createSessionMemory } from "./session-memory.ts";
import { createTenantSlots } from "./tenant-slots.ts";
import { createTokenLedger } from "./token-ledger.ts";

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
  /** How long a tenant's limits, agents and token spend are read from cache (run-context-cache.ts). */
  contextTtlMs: number;
  /** Token counts are written in batches at least this often: what a crash can lose (token-ledger.ts). */
  tokenFlushMs: number;
  /**
   * How long a history write waits for others to share its commit (history-writer.ts); delays
   * only the ack. 50 ms puts ~10 runs in a commit at 200 runs/s, which brings the write under
   * 1 ms of CPU a run (20 ms: ~4 runs, ~1 ms). A waiting run keeps its consumer slot: at
   * 400 runs/s about 14 of the 32 (`concurrency`) are waiting on average.
   */
  historyLingerMs: number;
  /** Least time between two deltas of a reply being written (reply-stream.ts); the first goes out at once. */
  deltaIntervalMs: number;
}

/** What an orchestrator runs on. */
export interface OrchestratorDeps {
  db: Kysely<Database>;
  redis: Redis;
  js: JetStreamClient;
  /** Core NATS, for replies as they are written (`konstruct.stream.…`); without it replies go out only whole. */
  nc?: NatsConnection;
  /** The app role's URL: when given, configuration changes (PostgreSQL NOTIFY) drop cached tenant contexts at once. */
  databaseUrl?: string;
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
  contextTtlMs: 1_000,
  tokenFlushMs: 1_000,
  historyLingerMs: 50,
  deltaIntervalMs: 50,
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
  const contexts = createRunContexts({ db: deps.db, ttlMs: settings.contextTtlMs });
  const tokens = createTokenLedger({ db: deps.db, log: deps.log, intervalMs: settings.tokenFlushMs });
  const history = createHistoryWriter({ db: deps.db, log: deps.log, lingerMs: settings.historyLingerMs });
  const handle = createRunHandler({
    db: deps.db,
    contexts,
    tokens,
    history,
    pool: deps.pool,
    memory: createSessionMemory(deps.redis, settings.sessionTtlSeconds, deps.log),
    slots: createTenantSlots(deps.redis, { leaseMs: settings.slotLeaseMs }),
    state: createRunState(deps.redis, settings.runStateTtlSeconds),
    publish: (subject, value, msgId) => publishJson(deps.js, subject, value, msgId),
    ...(deps.nc ? { publishDelta: deltaPublisher(deps.nc, deps.log) } : {}),
    deltaIntervalMs: settings.deltaIntervalMs,
    metrics,
    log: deps.log,
    slotWaitMs: settings.slotWaitMs,
    maxDeliver: consumer.maxDeliver,
  });
  const loop = createConsumerLoop({
    name: "orchestrator",
    js: deps.js,
    consumer,
    concurrency: settings.concurrency,
    log: deps.log,
    handler: (msg) => handle({ data: msg.data, deliveryCount: msg.info.deliveryCount }),
    onOutcome: (outcome) => metrics.outcomes.inc({ outcome: outcome.kind }),
    ...(deps.databaseUrl ? { databaseUrl: deps.databaseUrl } : {}),
    invalidate: (tenantId) => contexts.invalidate(tenantId),
  });
  return {
    consumer,
    metrics,
    get running() {
      return loop.running;
    },
    start: () => loop.start(),
    async stop() {
      await loop.stop();
      await history.close();
      // The runs are done: their token counts go out now rather than with a timer that will not fire again.
      await tokens.close().catch((err) => deps.log.error({ err }, "token counts of the last runs could not be written"));
    },
  };
}

/**
 * Publishes deltas on core NATS: no acknowledgement to wait for and nothing stored, because a
 * lost delta costs only a moment of the live view (the whole reply follows on JetStream). A
 * publish that fails (the connection closing) is dropped, never the run.
 */
function deltaPublisher(nc: NatsConnection, log: Logger): (delta: ReplyDelta) => void {
  return (delta) => {
    try {
      nc.publish(replyStreamSubject(delta.tenantId, delta.channelType), JSON.stringify(delta));
    } catch (error) {
      log.debug({ err: error, replyId: delta.replyId }, "a reply delta was not published");
    }
  };
}
