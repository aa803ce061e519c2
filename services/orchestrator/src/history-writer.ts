import { performance } from "node:perf_hooks";
import { assertTenantId, type Database, type Logger } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { type HistoryExchange, recordHistory } from "./conversation-history.ts";

/** Where runs' exchanges go on their way to the conversation history. */
export interface HistoryWriter {
  /** Writes one run's exchange; resolves, once it is committed, with the messages inserted (0 for a repeat). */
  record(exchange: HistoryExchange): Promise<number>;
  /** Writes what is queued and waits for it. */
  close(): Promise<void>;
}

/** Options for {@link createHistoryWriter}. */
export interface HistoryWriterOptions {
  db: Kysely<Database>;
  log: Logger;
  /**
   * How long an exchange waits for others to join it (or longer, while a write is in flight).
   * The reply is already published: the wait delays only the run's acknowledgement.
   */
  lingerMs?: number;
  /** Exchanges written in one statement at most. */
  maxBatch?: number;
}

interface Queued {
  exchange: HistoryExchange;
  /** When it was queued (performance.now()): it waits at most `lingerMs` from then, or for the write in flight. */
  at: number;
  resolve(inserted: number): void;
  reject(error: unknown): void;
}

/**
 * Group commit for the conversation history. Written one by one, most of a run's history write
 * is fixed cost, not its two rows: the round trip, the transaction, and the statements of a
 * function call (README "Conversation history", cost). So exchanges that arrive within
 * `lingerMs` of the first one waiting (or while a write is in flight) go to PostgreSQL together:
 * one statement calling `konstruct_record_histories` once per tenant, one commit for all.
 *
 * Nothing is weaker for it: a run's `record` resolves only after the commit that holds its
 * exchange, so a run is acknowledged only once its history is durable, and a crash before that
 * redelivers the run, whose repeat inserts nothing (the message keys). Each call of the function
 * sets its own tenant (and restores it on exit), so RLS checks every row against its own
 * tenant, as when written one by one. When a grouped statement fails (one exchange's foreign
 * key, a constraint), nothing of it was written, and each exchange is written again on its own,
 * so one bad exchange fails only its own run.
 */
export function createHistoryWriter(options: HistoryWriterOptions): HistoryWriter {
  const lingerMs = options.lingerMs ?? 50;
  const maxBatch = options.maxBatch ?? 64;
  let queue: Queued[] = [];
  let writing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let closing = false;

  const writeAlone = async (q: Queued) => {
    try {
      q.resolve(await recordHistory(options.db, q.exchange));
    } catch (error) {
      q.reject(error);
    }
  };

  const writeBatch = async (batch: Queued[]): Promise<void> => {
    if (batch.length === 1) return writeAlone(batch[0] as Queued);
    let inserted: number[];
    try {
      inserted = await recordHistories(
        options.db,
        batch.map((q) => q.exchange),
      );
    } catch (error) {
      options.log.warn(
        { err: error, exchanges: batch.length },
        "a grouped history write failed; writing its exchanges one by one",
      );
      for (const q of batch) await writeAlone(q);
      return;
    }
    for (const [i, q] of batch.entries()) q.resolve(inserted[i] ?? 0);
  };

  const drain = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (writing || queue.length === 0) return;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    writing = writeBatch(batch).finally(() => {
      writing = null;
      schedule();
    });
  };

  /** Writes now when the batch is full or its oldest exchange has waited `lingerMs`, else when it will have. */
  const schedule = () => {
    const oldest = queue[0];
    if (writing || timer || !oldest) return;
    const wait = closing ? 0 : oldest.at + lingerMs - performance.now();
    if (queue.length >= maxBatch || wait <= 0) drain();
    else timer = setTimeout(drain, wait);
  };

  return {
    record(exchange) {
      assertTenantId(exchange.tenantId);
      return new Promise<number>((resolve, reject) => {
        queue.push({ exchange, at: performance.now(), resolve, reject });
        if (queue.length >= maxBatch) drain();
        else schedule();
      });
    },
    async close() {
      closing = true;
      drain();
      while (writing) await writing;
    },
  };
}

/** A writer with no grouping: each exchange in its own statement (tools, and tests that want the rows now). */
export function createImmediateHistoryWriter(db: Kysely<Database>): HistoryWriter {
  return { record: (exchange) => recordHistory(db, exchange), close: async () => {} };
}

/** An exchange as `konstruct_record_histories` reads it (one element of its JSON array), `n` its place in the batch. */
export function historyRecord(x: HistoryExchange, n: number) {
  return {
    n,
    channel_type: x.channelType,
    connection: x.connectionId,
    thread_key: x.threadKey,
    subject: x.subject,
    agent: x.agentId,
    agent_name: x.agentName,
    inbound_key: x.inbound.key,
    sender_id: x.inbound.senderId,
    sender_name: x.inbound.senderName,
    inbound_text: x.inbound.text,
    inbound_at: x.inbound.at,
    reply_key: x.reply.key,
    reply_sender_id: x.reply.senderId,
    reply_text: x.reply.text,
    model: x.reply.model,
    prompt_tokens: x.reply.promptTokens,
    completion_tokens: x.reply.completionTokens,
    latency_ms: x.reply.latencyMs,
  };
}

/**
 * Writes several exchanges in one statement (one transaction), set-based per tenant: each call
 * of `konstruct_record_histories` writes one tenant's exchanges, at most one per thread, with a
 * few statements for all of them (the conversations, the messages, the counters) instead of a
 * few per exchange. A second exchange of a thread goes in a later call of the same statement, so
 * it finds the conversation the first made and is written after it: a thread reads in pairs, as
 * when written one by one. Returns each exchange's inserted count, in the order given.
 */
export async function recordHistories(db: Kysely<Database>, list: readonly HistoryExchange[]): Promise<number[]> {
  const groups = new Map<string, { tenant: string; round: number; exchanges: ReturnType<typeof historyRecord>[] }>();
  const rounds = new Map<string, number>();
  for (const [n, x] of list.entries()) {
    assertTenantId(x.tenantId);
    const thread = `${x.tenantId} ${x.channelType} ${x.threadKey}`;
    const round = rounds.get(thread) ?? 0;
    rounds.set(thread, round + 1);
    const key = `${x.tenantId} ${round}`;
    const group = groups.get(key) ?? { tenant: x.tenantId, round, exchanges: [] };
    groups.set(key, group);
    group.exchanges.push(historyRecord(x, n));
  }
  // One JSON document: JSON.stringify is native, and PostgreSQL parses one value. The calls run
  // in the array's order, every first exchange of a thread before any second.
  const calls = JSON.stringify([...groups.values()].sort((a, b) => a.round - b.round));
  const result = await sql<{ exchange_index: number; messages_inserted: number }>`
    select r.exchange_index, r.messages_inserted
    from jsonb_array_elements(${calls}::jsonb) with ordinality as g(call, position)
    cross join lateral konstruct_record_histories((g.call->>'tenant')::uuid, g.call->'exchanges') as r
    order by g.position`.execute(db);
  const inserted = new Array<number>(list.length).fill(0);
  for (const row of result.rows) inserted[row.exchange_index] = row.messages_inserted;
  return inserted;
}
