import { questionText } from "@konstruct/channels";
import {
  ack,
  type Database,
  decodeWorkItem,
  type Logger,
  MessageValidationError,
  type Outcome,
  outboundSubject,
  poison,
  retry,
  type WorkItem,
} from "@konstruct/core";
import type { Kysely } from "kysely";
import type { LlmPool } from "./llm-pool.ts";
import type { ChatMessage } from "./llm-provider.ts";
import type { OrchestratorMetrics } from "./metrics.ts";
import { buildPrompt } from "./prompt.ts";
import { apologyText, outboundReply, REPLY_TEXTS } from "./replies.ts";
import { type RunContext, recordTokenUsage } from "./run-context.ts";
import { createRunContexts, type RunContexts } from "./run-context-cache.ts";
import type { RunState, SettledReply } from "./run-state.ts";
import type { SessionMemory } from "./session-memory.ts";
import type { TenantSlots } from "./tenant-slots.ts";

/** Publishes JSON to JetStream with a msgID (server-side de-duplication). */
export type Publish = (subject: string, value: unknown, msgId: string) => Promise<void>;

/** What {@link createRunHandler} needs. */
export interface RunDeps {
  db: Kysely<Database>;
  /** Cached run contexts; by default a private cache over `db` with a one-second TTL. */
  contexts?: RunContexts;
  pool: LlmPool;
  memory: SessionMemory;
  slots: TenantSlots;
  state: RunState;
  publish: Publish;
  metrics: OrchestratorMetrics;
  log: Logger;
  /** How long a run waits in-process for a tenant slot before handing the item back. */
  slotWaitMs: number;
  /** The consumer's max deliveries: on the last one a run that still has no slot answers "busy". */
  maxDeliver: number;
}

/** One work item delivery, as the consumer hands it over. */
export interface WorkDelivery {
  data: Uint8Array;
  deliveryCount: number;
}

const notice = (text: string): SettledReply => ({ kind: "notice", text, model: null, promptTokens: 0, completionTokens: 0 });

/**
 * The orchestrator's handler. A run goes through steps recorded in Redis (run-state.ts):
 * settle the reply (model answer, apology or notice) → append memory → publish, with the
 * token count recorded alongside → mark published → ack. A redelivery after a crash skips
 * the steps already done, so the model runs once, memory gets the turn once, tokens are
 * counted once, and the reply — published with msgID `reply:<deliveryKey>` — reaches the
 * outbound stream once: every redelivery comes well within the stream's duplicate window.
 *
 * Round trips are what a run costs when the model is fast, so independent steps are issued
 * together (ioredis sends commands issued in the same tick without waiting for each reply)
 * and the tenant's context comes from a per-tenant cache (run-context-cache.ts).
 */
export function createRunHandler(deps: RunDeps): (delivery: WorkDelivery) => Promise<Outcome> {
  const { db, pool, memory, slots, state, publish, metrics } = deps;
  const contexts = deps.contexts ?? createRunContexts({ db, ttlMs: 1_000 });

  const think = async (item: WorkItem, context: RunContext, history: ChatMessage[], log: Logger): Promise<SettledReply> => {
    const agent = context.agent;
    if (!agent) return { ...notice(REPLY_TEXTS.agentMissing), kind: "apology" };
    if (context.tokensUsedToday >= context.tokensPerDay) return notice(REPLY_TEXTS.tokenBudget);
    const text =
      questionText(item.message.channelType, item.message.content.text, item.message.channel.botUserId) || "(empty message)";
    const messages = buildPrompt(
      { displayName: agent.display_name, role: agent.role, systemPrompt: agent.system_prompt },
      history,
      text,
    );
    const end = metrics.llmSeconds.startTimer();
    const outcome = await pool.chat({
      models: [agent.model, ...agent.fallback_models],
      messages,
      temperature: agent.temperature,
      log,
    });
    end();
    if (outcome.ok) {
      const { result } = outcome;
      if (outcome.modelIndex > 0) metrics.fallbacks.inc();
      return {
        kind: "answer",
        text: result.text,
        model: result.model,
        promptTokens: result.promptTokens,
        completionTokens: result.completionTokens,
      };
    }
    for (const error of outcome.errors) metrics.llmErrors.inc({ failure: error.failure });
    metrics.llmExhausted.inc();
    log.error({ failures: outcome.errors.map((e) => e.message) }, "every model failed; apologising");
    return { kind: "apology", text: apologyText(outcome.errors), model: null, promptTokens: 0, completionTokens: 0 };
  };

  const run = async (delivery: WorkDelivery): Promise<Outcome> => {
    let item: WorkItem;
    try {
      item = decodeWorkItem(delivery.data);
    } catch (error) {
      if (error instanceof MessageValidationError) return poison(error.message);
      throw error;
    }
    if (!item.message.channel.connectionId) return poison("work item without a channel connection");
    const { tenantId, deliveryKey } = item;
    const log = deps.log.child({ tenantId, messageId: item.message.id, deliveryKey, agentId: item.agentId });
    const context = await contexts.load(tenantId, item.agentId);
    if (!context) {
      log.warn("tenant no longer exists; dropping its work");
      return ack;
    }
    const agent = context.agent;
    const historyLimit = agent?.max_history_messages ?? 0;
    const loadHistory = () => memory.load(tenantId, item.message, historyLimit);

    // Progress, history and a first try at a slot in one round trip. The history and the slot
    // are wasted on a redelivery whose reply is already settled, which is rare.
    const [initial, firstHistory, firstSlot] = await Promise.all([
      state.get(tenantId, deliveryKey),
      loadHistory(),
      slots.acquire(tenantId, deliveryKey, context.maxConcurrentRuns, 0),
    ]);
    let progress = initial;
    let release = firstSlot;
    const releaseSlot = async () => {
      await release?.().catch((err) => log.warn({ err }, "releasing the tenant slot failed; its lease will expire"));
      release = null;
    };
    if (progress.published) {
      await releaseSlot();
      return ack;
    }
    let reply = progress.reply;
    if (reply) {
      await releaseSlot();
    } else {
      let history = firstHistory;
      if (!release) {
        release = await slots.acquire(tenantId, deliveryKey, context.maxConcurrentRuns, deps.slotWaitMs);
        // Turns appended while this run waited belong in its prompt.
        if (release) history = await loadHistory();
      }
      if (!release) {
        if (delivery.deliveryCount < deps.maxDeliver) {
          return retry(`tenant at its ${context.maxConcurrentRuns} concurrent runs`, 2_000 * delivery.deliveryCount);
        }
        // Out of redeliveries: tell the person rather than dead-letter their message silently.
        reply = await state.settle(tenantId, deliveryKey, notice(REPLY_TEXTS.busy));
      } else {
        let thought: SettledReply;
        try {
          thought = await think(item, context, history, log);
        } catch (error) {
          await releaseSlot();
          throw error;
        }
        [reply] = await Promise.all([state.settle(tenantId, deliveryKey, thought), releaseSlot()]);
      }
      progress = { ...progress, reply };
    }

    const settled = reply;
    const recordTokens = async () => {
      if (settled.kind !== "answer" || !agent || progress.tokensRecorded) return;
      // Claim, then record: a concurrent duplicate cannot count the run twice. A crash between
      // the two loses one run's tokens, the cheaper error for a budget meant to stop runaway use.
      if (!(await state.claim(tenantId, deliveryKey, "tokens"))) return;
      const tokens = { prompt: settled.promptTokens, completion: settled.completionTokens };
      try {
        await recordTokenUsage(db, tenantId, agent.id, tokens);
      } catch (error) {
        await state.unmark(tenantId, deliveryKey, "tokens").catch(() => {});
        throw error;
      }
      contexts.recorded(tenantId, tokens.prompt + tokens.completion);
      metrics.tokens.inc({ type: "prompt" }, tokens.prompt);
      metrics.tokens.inc({ type: "completion" }, tokens.completion);
    };
    const appendMemory = async () => {
      if (settled.kind !== "answer" || !agent || progress.memoryAppended) return;
      const question = questionText(item.message.channelType, item.message.content.text, item.message.channel.botUserId);
      await memory.append(
        tenantId,
        item.message,
        [
          { role: "user", content: question },
          { role: "assistant", content: settled.text },
        ],
        agent.max_history_messages,
        { key: state.key(tenantId, deliveryKey), field: "memory" },
      );
    };
    const replyAgent = agent ? { id: agent.id, displayName: agent.display_name } : null;
    const outbound = outboundReply(item, settled.kind, settled.text, replyAgent);
    // Memory before the reply, so a follow-up to the reply finds this turn. The token count
    // goes to PostgreSQL meanwhile; should it fail after the reply went out, the redelivery
    // records it and its publish is dropped by NATS as a duplicate. "published" is marked only
    // when every step is done.
    const steps = await Promise.allSettled([
      recordTokens(),
      appendMemory().then(() => publish(outboundSubject(item.message.channelType), outbound, outbound.replyId)),
    ]);
    for (const step of steps) if (step.status === "rejected") throw step.reason;
    await state.mark(tenantId, deliveryKey, "published");
    metrics.replies.inc({ kind: settled.kind });
    log.info({ kind: settled.kind, model: settled.model, redelivered: delivery.deliveryCount > 1 }, "reply published");
    return ack;
  };

  return async (delivery) => {
    const end = metrics.runSeconds.startTimer();
    try {
      return await run(delivery);
    } finally {
      end();
    }
  };
}
