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
  stripBotMention,
  type WorkItem,
} from "@konstruct/core";
import type { Kysely } from "kysely";
import type { LlmPool } from "./llm-pool.ts";
import type { OrchestratorMetrics } from "./metrics.ts";
import { buildPrompt } from "./prompt.ts";
import { apologyText, outboundReply, REPLY_TEXTS } from "./replies.ts";
import { loadRunContext, type RunContext, recordTokenUsage } from "./run-context.ts";
import type { RunState, SettledReply } from "./run-state.ts";
import type { SessionMemory } from "./session-memory.ts";
import type { TenantSlots } from "./tenant-slots.ts";

/** Publishes JSON to JetStream with a msgID (server-side de-duplication). */
export type Publish = (subject: string, value: unknown, msgId: string) => Promise<void>;

/** What {@link createRunHandler} needs. */
export interface RunDeps {
  db: Kysely<Database>;
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
 * settle the reply (model answer, apology or notice) → record tokens → append memory →
 * publish → ack. A redelivery after a crash skips the steps already done, so the model runs
 * once, memory gets the turn once, and the reply — published with msgID `reply:<deliveryKey>`
 * — reaches the outbound stream once.
 */
export function createRunHandler(deps: RunDeps): (delivery: WorkDelivery) => Promise<Outcome> {
  const { db, pool, memory, slots, state, publish, metrics } = deps;

  const think = async (item: WorkItem, context: RunContext, log: Logger): Promise<SettledReply> => {
    const agent = context.agent;
    if (!agent) return { ...notice(REPLY_TEXTS.agentMissing), kind: "apology" };
    if (context.tokensUsedToday >= context.tokensPerDay) return notice(REPLY_TEXTS.tokenBudget);
    const history = await memory.load(item.tenantId, item.message, agent.max_history_messages);
    const text = stripBotMention(item.message.content.text, item.message.channel.botUserId) || "(empty message)";
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
    let progress = await state.get(tenantId, deliveryKey);
    if (progress.published) return ack;

    const context = await loadRunContext(db, tenantId, item.agentId);
    if (!context) {
      log.warn("tenant no longer exists; dropping its work");
      return ack;
    }
    let reply = progress.reply;
    if (!reply) {
      const release = await slots.acquire(tenantId, deliveryKey, context.maxConcurrentRuns, deps.slotWaitMs);
      if (!release) {
        if (delivery.deliveryCount < deps.maxDeliver) {
          return retry(`tenant at its ${context.maxConcurrentRuns} concurrent runs`, 2_000 * delivery.deliveryCount);
        }
        // Out of redeliveries: tell the person rather than dead-letter their message silently.
        reply = await state.settle(tenantId, deliveryKey, notice(REPLY_TEXTS.busy));
      } else {
        try {
          reply = await state.settle(tenantId, deliveryKey, await think(item, context, log));
        } finally {
          await release().catch((err) => log.warn({ err }, "releasing the tenant slot failed; its lease will expire"));
        }
      }
      progress = { ...progress, reply };
    }

    const agent = context.agent;
    if (reply.kind === "answer" && agent) {
      // Claim, then record: a concurrent duplicate cannot count the run twice. A crash between
      // the two loses one run's tokens, the cheaper error for a budget meant to stop runaway use.
      if (!progress.tokensRecorded && (await state.claim(tenantId, deliveryKey, "tokens"))) {
        try {
          await recordTokenUsage(db, tenantId, agent.id, { prompt: reply.promptTokens, completion: reply.completionTokens });
        } catch (error) {
          await state.unmark(tenantId, deliveryKey, "tokens").catch(() => {});
          throw error;
        }
        metrics.tokens.inc({ type: "prompt" }, reply.promptTokens);
        metrics.tokens.inc({ type: "completion" }, reply.completionTokens);
      }
      if (!progress.memoryAppended) {
        const question = stripBotMention(item.message.content.text, item.message.channel.botUserId);
        await memory.append(
          tenantId,
          item.message,
          [
            { role: "user", content: question },
            { role: "assistant", content: reply.text },
          ],
          agent.max_history_messages,
          { key: state.key(tenantId, deliveryKey), field: "memory" },
        );
      }
    }
    const replyAgent = agent ? { id: agent.id, displayName: agent.display_name } : null;
    const outbound = outboundReply(item, reply.kind, reply.text, replyAgent);
    await publish(outboundSubject(item.message.channelType), outbound, outbound.replyId);
    await state.mark(tenantId, deliveryKey, "published");
    metrics.replies.inc({ kind: reply.kind });
    log.info({ kind: reply.kind, model: reply.model, redelivered: delivery.deliveryCount > 1 }, "reply published");
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
