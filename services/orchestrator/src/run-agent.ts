import { questionText, streamsReplies } from "@konstruct/channels";
import {
  ack,
  type Database,
  type Disposition,
  decodeWorkItem,
  type Logger,
  MessageValidationError,
  type OutboundReply,
  outboundSubject,
  poison,
  type ReplyDelta,
  retry,
  type WorkItem,
} from "@konstruct/core";
import type { Kysely } from "kysely";
import { historyExchange } from "./conversation-history.ts";
import { createImmediateHistoryWriter, type HistoryWriter } from "./history-writer.ts";
import type { LlmPool } from "./llm-pool.ts";
import type { ChatMessage } from "./llm-provider.ts";
import type { OrchestratorMetrics } from "./metrics.ts";
import { buildPrompt } from "./prompt.ts";
import { apologyText, outboundReply, REPLY_TEXTS, replyAddress } from "./replies.ts";
import { createReplyStream } from "./reply-stream.ts";
import type { RunContext } from "./run-context.ts";
import { createRunContexts, type RunContexts } from "./run-context-cache.ts";
import { createRunRedis, type RunRedis } from "./run-redis.ts";
import type { RunProgress, RunState, SettledReply } from "./run-state.ts";
import type { SessionMemory } from "./session-memory.ts";
import type { SlotHold, TenantSlots } from "./tenant-slots.ts";
import { createImmediateTokenLedger, type TokenLedger } from "./token-ledger.ts";

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
  /** Where token counts go; by default each run's is written at once (the orchestrator batches them, token-ledger.ts). */
  tokens?: TokenLedger;
  /** Where exchanges go; by default each is written at once (the orchestrator groups them, history-writer.ts). */
  history?: HistoryWriter;
  publish: Publish;
  /**
   * Publishes a reply's text as it is written, for channels that show it live (core NATS, best
   * effort; must not throw). Without it, replies are only published whole.
   */
  publishDelta?: (delta: ReplyDelta) => void;
  /** Least time between two deltas of one reply (reply-stream.ts). */
  deltaIntervalMs?: number;
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
 * token count recorded alongside → write the history → ack. Nothing marks the run done, so
 * every later delivery of it (a crash's, a lost ack's, the router's repeat) finds the reply
 * settled and delivers it again, each step single on its own: the model runs once (`start`
 * returns the settled reply), memory gets the turn once and tokens are counted once (their
 * flags in the run's hash, which lives `runStateTtlSeconds` from the settle), the history
 * write inserts nothing already there, and the reply, published with msgID
 * `reply:<deliveryKey>`, is dropped by JetStream within its 15-minute duplicate window and
 * posted once after it (the outbound reply ledger, the web chat's append-once marker).
 *
 * Round trips are what a run costs when the model is fast, so a run's Redis steps are two
 * scripts, both before the publish (run-redis.ts), token counts go to PostgreSQL in batches
 * (token-ledger.ts) and the tenant's context comes from a per-tenant cache
 * (run-context-cache.ts).
 */
export function createRunHandler(deps: RunDeps): (delivery: WorkDelivery) => Promise<Disposition> {
  const contexts = deps.contexts ?? createRunContexts({ db: deps.db, ttlMs: 1_000 });
  const steps: RunSteps = {
    ...deps,
    contexts,
    tokens: deps.tokens ?? createImmediateTokenLedger(deps.db),
    history: deps.history ?? createImmediateHistoryWriter(deps.db),
    redis: createRunRedis(deps.state, deps.slots, deps.memory),
  };

  const run = async (delivery: WorkDelivery): Promise<Disposition> => {
    const decoded = decodeDelivery(delivery);
    if ("kind" in decoded) return decoded;
    const item = decoded;
    const log = deps.log.child({
      tenantId: item.tenantId,
      messageId: item.message.id,
      deliveryKey: item.deliveryKey,
      agentId: item.agentId,
    });
    const context = await contexts.load(item.tenantId, item.agentId);
    if (!context) {
      log.warn("tenant no longer exists; dropping its work");
      return ack;
    }
    const r: Run = { item, context, log, deliveryCount: delivery.deliveryCount };
    const settled = await settleReply(r, steps);
    if (settled.kind === "outcome") return settled.outcome;
    await deliverReply(r, settled, steps);
    deps.metrics.replies.inc({ kind: settled.reply.kind });
    log.info(
      { kind: settled.reply.kind, model: settled.reply.model, redelivered: delivery.deliveryCount > 1 },
      "reply published",
    );
    return ack;
  };

  return async (delivery) => {
    const end = deps.metrics.runSeconds.startTimer();
    try {
      return await run(delivery);
    } finally {
      end();
    }
  };
}

/** What the steps of a run share. */
type RunSteps = RunDeps & { contexts: RunContexts; tokens: TokenLedger; history: HistoryWriter; redis: RunRedis };

/** One run: the work item, its tenant's context and the delivery it came in. */
interface Run {
  item: WorkItem;
  context: RunContext;
  log: Logger;
  deliveryCount: number;
}

/** The work item, or the poison outcome of one that can never run. */
function decodeDelivery(delivery: WorkDelivery): WorkItem | Disposition {
  let item: WorkItem;
  try {
    item = decodeWorkItem(delivery.data);
  } catch (error) {
    if (error instanceof MessageValidationError) return poison(error.message);
    throw error;
  }
  if (!item.message.channel.connectionId) return poison("work item without a channel connection");
  return item;
}

/** A run's settled reply with its progress; `tokensClaimed` when this run's settle step claimed the tokens it must count. */
interface SettledRun {
  kind: "reply";
  reply: SettledReply;
  progress: RunProgress;
  tokensClaimed: boolean;
}

type Settled = SettledRun | { kind: "outcome"; outcome: Disposition };

/**
 * The run's reply, settled once: the one a previous delivery settled, or a new one thought
 * under a tenant slot (a model answer, an apology, a notice). With no slot, the item goes back
 * to the stream; out of redeliveries, the person is told the agent is busy.
 *
 * Two Redis round trips (run-redis.ts): progress, a first try at the slot and the history
 * together; then the reply stored with the slot freed, the turn appended and the tokens claimed.
 */
async function settleReply(r: Run, deps: RunSteps): Promise<Settled> {
  const { tenantId, deliveryKey, message } = r.item;
  const { slots, memory } = deps;
  const historyLimit = r.context.agent?.max_history_messages ?? 0;

  const start = await deps.redis.start(tenantId, message, deliveryKey, r.context.maxConcurrentRuns, historyLimit);
  const { progress } = start;
  // Marked by an older orchestrator after its last step (a rolling upgrade): nothing is left to do.
  if (progress.published) return { kind: "outcome", outcome: ack };
  if (progress.reply) return { kind: "reply", reply: progress.reply, progress, tokensClaimed: false };

  let history = start.history;
  let slot: SlotHold | null = start.slot;
  if (!slot) {
    slot = await slots.acquire(tenantId, deliveryKey, r.context.maxConcurrentRuns, deps.slotWaitMs);
    // Turns appended while this run waited belong in its prompt.
    if (slot) history = await memory.load(tenantId, message, historyLimit);
  }
  let thought: SettledReply;
  if (!slot) {
    if (r.deliveryCount < deps.maxDeliver) {
      const outcome = retry(`tenant at its ${r.context.maxConcurrentRuns} concurrent runs`, 2_000 * r.deliveryCount);
      return { kind: "outcome", outcome };
    }
    // Out of redeliveries: tell the person rather than dead-letter their message silently.
    thought = notice(REPLY_TEXTS.busy);
  } else {
    try {
      thought = await think(r, history, deps);
    } catch (error) {
      await slot.release().catch((err) => r.log.warn({ err }, "releasing the tenant slot failed; its lease will expire"));
      throw error;
    }
  }
  const agent = r.context.agent;
  const answered = thought.kind === "answer" && agent !== null;
  const settlement = await deps.redis.settle({
    tenantId,
    message,
    deliveryKey,
    reply: thought,
    slot,
    turn: answered ? { turns: turnOf(r.item, thought), limit: agent.max_history_messages } : null,
    countTokens: answered,
  });
  const { reply } = settlement;
  return {
    kind: "reply",
    reply,
    progress: { ...progress, reply, memoryAppended: progress.memoryAppended || settlement.memoryAppended },
    tokensClaimed: settlement.tokensClaimed,
  };
}

/** Asks the agent's models (primary, then fallbacks), within the tenant's token budget. */
async function think(r: Run, history: ChatMessage[], deps: RunSteps): Promise<SettledReply> {
  const { metrics } = deps;
  const agent = r.context.agent;
  if (!agent) return { ...notice(REPLY_TEXTS.agentMissing), kind: "apology" };
  if (r.context.tokensUsedToday >= r.context.tokensPerDay) return notice(REPLY_TEXTS.tokenBudget);
  const messages = buildPrompt(
    { displayName: agent.display_name, role: agent.role, systemPrompt: agent.system_prompt },
    history,
    questionOf(r.item) || "(empty message)",
  );
  // Only the reply's text is streamed, never memory or history: those are written once the turn
  // is settled, so a run that dies mid-stream leaves nothing behind and its redelivery starts over.
  const { publishDelta } = deps;
  const stream =
    publishDelta && streamsReplies(r.item.message.channelType)
      ? createReplyStream({
          publish: publishDelta,
          reply: replyAddress(r.item),
          deliveryCount: r.deliveryCount,
          startedAt: Date.now(),
          intervalMs: deps.deltaIntervalMs ?? 50,
        })
      : null;
  const end = metrics.llmSeconds.startTimer();
  let outcome: Awaited<ReturnType<LlmPool["chat"]>>;
  try {
    outcome = await deps.pool.chat({
      tenantId: r.item.tenantId,
      models: [agent.model, ...agent.fallback_models],
      messages,
      temperature: agent.temperature,
      log: r.log,
      ...(stream ? { onText: stream.push } : {}),
    });
  } finally {
    stream?.close();
  }
  const latencyMs = Math.round(end() * 1000);
  if (outcome.ok) {
    const { result } = outcome;
    if (outcome.modelIndex > 0) metrics.fallbacks.inc();
    return {
      kind: "answer",
      text: result.text,
      model: result.model,
      promptTokens: result.promptTokens,
      completionTokens: result.completionTokens,
      latencyMs,
    };
  }
  for (const error of outcome.errors) metrics.llmErrors.inc({ failure: error.failure });
  metrics.llmExhausted.inc();
  r.log.error({ failures: outcome.errors.map((e) => e.message) }, "every model failed; apologising");
  return { kind: "apology", text: apologyText(outcome.errors), model: null, promptTokens: 0, completionTokens: 0, latencyMs };
}

/**
 * Delivers a settled reply: the token count to the ledger, meanwhile the turn to memory, then
 * the reply to the outbound stream (memory first, so a follow-up to the reply finds this turn)
 * and then the exchange to the conversation history (after the publish, so the history holds
 * only replies that were sent). On a first delivery the settle step already appended the turn
 * and claimed the tokens, so no Redis call comes before the publish, and none after it: a later
 * delivery of the item, whether a step failed, the process died or the run was done, repeats
 * these steps. Its tokens and turn are skipped by their flags, its publish is dropped as a
 * duplicate (by JetStream, then by the reply ledger or the web chat's marker) and its history
 * write inserts nothing already there.
 */
async function deliverReply(r: Run, settled: SettledRun, deps: RunSteps): Promise<void> {
  const { item } = r;
  const { reply, progress } = settled;
  const agent = r.context.agent;
  const replyAgent = agent ? { id: agent.id, displayName: agent.display_name } : null;
  const outbound = outboundReply(item, reply.kind, reply.text, replyAgent);
  const steps = await Promise.allSettled([
    recordTokens(r, settled, deps),
    appendMemory(r, progress, reply, deps)
      .then(() => deps.publish(outboundSubject(item.message.channelType), outbound, outbound.replyId))
      .then(() => writeHistory(r, reply, outbound, deps)),
  ]);
  for (const step of steps) if (step.status === "rejected") throw step.reason;
}

/**
 * Counts an answer's tokens once against the tenant's daily budget. The run whose settle step
 * stored the reply holds the claim already (run-redis.ts); a run that found the reply stored
 * claims here, unless an earlier delivery did. A refused write gives the claim back.
 */
async function recordTokens(r: Run, settled: SettledRun, deps: RunSteps): Promise<void> {
  const { reply, progress } = settled;
  const agent = r.context.agent;
  if (reply.kind !== "answer" || !agent) return;
  const { tenantId, deliveryKey } = r.item;
  if (!settled.tokensClaimed) {
    if (progress.tokensRecorded) return;
    // Claim, then record: a concurrent duplicate cannot count the run twice. A crash between
    // the two loses one run's tokens, the cheaper error for a budget meant to stop runaway use.
    if (!(await deps.state.claim(tenantId, deliveryKey, "tokens"))) return;
  }
  const tokens = { prompt: reply.promptTokens, completion: reply.completionTokens };
  try {
    await deps.tokens.add(tenantId, agent.id, tokens);
  } catch (error) {
    await deps.state.unmark(tenantId, deliveryKey, "tokens").catch(() => {});
    throw error;
  }
  deps.contexts.recorded(tenantId, tokens.prompt + tokens.completion);
  deps.metrics.tokens.inc({ type: "prompt" }, tokens.prompt);
  deps.metrics.tokens.inc({ type: "completion" }, tokens.completion);
}

/**
 * Writes the person's message and the reply that was sent to the conversation history. It needs
 * no step flag: the write is idempotent by message key, so a redelivery simply repeats it.
 */
async function writeHistory(r: Run, reply: SettledReply, sent: OutboundReply, deps: RunSteps): Promise<void> {
  const inserted = await deps.history.record(historyExchange(r.item, questionOf(r.item), reply, sent));
  deps.metrics.historyMessages.inc(inserted);
}

/** Appends the question and the answer to the thread's memory, once per delivery. */
async function appendMemory(r: Run, progress: RunProgress, reply: SettledReply, deps: RunSteps): Promise<void> {
  const agent = r.context.agent;
  if (reply.kind !== "answer" || !agent || progress.memoryAppended) return;
  const { tenantId, deliveryKey } = r.item;
  await deps.memory.append(tenantId, r.item.message, turnOf(r.item, reply), agent.max_history_messages, {
    key: deps.state.key(tenantId, deliveryKey),
    field: "memory",
  });
}

/** The turn a run adds to memory: the question and the answer. */
function turnOf(item: WorkItem, reply: SettledReply): ChatMessage[] {
  return [
    { role: "user", content: questionOf(item) },
    { role: "assistant", content: reply.text },
  ];
}

/** The person's question without the channel's mention of the bot. */
function questionOf(item: WorkItem): string {
  return questionText(item.message.channelType, item.message.content.text, item.message.channel.botUserId);
}
