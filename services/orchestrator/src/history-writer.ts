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
 * Group commit for the conversation history. Each history write is a transaction of its own,
 * and most of its cost is the transaction (an id, WAL, a commit flushed to disk) and the round
 * trip, not the two rows (README "Conversation history", cost). So exchanges that arrive within
 * `lingerMs` of the first one waiting (or while a write is in flight) go to PostgreSQL together:
 * one statement calling `konstruct_record_history` once per exchange, one commit for all.
 *
 * Nothing is weaker for it: a run's `record` resolves only after the commit that holds its
 * exchange, so a run is acknowledged only once its history is durable, and a crash before that
 * redelivers the run, whose repeat inserts nothing (the message keys). Each call of the function
 * sets its own exchange's tenant (and restores it on exit), so RLS checks every row against its
 * own tenant, as when written one by one. When a grouped statement fails (one exchange's foreign
 * key, a constraint), nothing of it was written, and each exchange is written again on its own,
 * so one bad exchange fails only its own run.
 */
export function createHistoryWriter(options: HistoryWriterOptions): HistoryWriter {
  const lingerMs = options.lingerMs ?? 20;
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

/**
 * Writes several exchanges in one statement (one transaction): `konstruct_record_history` once
 * per exchange, in order, so two exchanges of one thread find the conversation the first made.
 * Returns each exchange's inserted count, in the order given.
 */
export async function recordHistories(db: Kysely<Database>, list: readonly HistoryExchange[]): Promise<number[]> {
  for (const x of list) assertTenantId(x.tenantId);
  const col = <T>(pick: (x: HistoryExchange) => T): T[] => list.map(pick);
  const { rows } = await sql<{ n: string; inserted: number }>`select b.n, konstruct_record_history(
      b.tenant, b.channel_type, b.connection, b.thread_key, b.subject, b.agent, b.agent_name,
      b.inbound_key, b.sender_id, b.sender_name, b.inbound_text, b.inbound_at,
      b.reply_key, b.reply_sender_id, b.reply_text, b.model, b.prompt_tokens, b.completion_tokens, b.latency_ms
    ) as inserted
    from unnest(
      ${col((x) => x.tenantId)}::uuid[], ${col((x) => x.channelType)}::text[], ${col((x) => x.connectionId)}::uuid[],
      ${col((x) => x.threadKey)}::text[], ${col((x) => x.subject)}::text[], ${col((x) => x.agentId)}::uuid[],
      ${col((x) => x.agentName)}::text[], ${col((x) => x.inbound.key)}::text[], ${col((x) => x.inbound.senderId)}::text[],
      ${col((x) => x.inbound.senderName)}::text[], ${col((x) => x.inbound.text)}::text[], ${col((x) => x.inbound.at)}::timestamptz[],
      ${col((x) => x.reply.key)}::text[], ${col((x) => x.reply.senderId)}::text[], ${col((x) => x.reply.text)}::text[],
      ${col((x) => x.reply.model)}::text[], ${col((x) => x.reply.promptTokens)}::integer[],
      ${col((x) => x.reply.completionTokens)}::integer[], ${col((x) => x.reply.latencyMs)}::integer[]
    ) with ordinality as b(tenant, channel_type, connection, thread_key, subject, agent, agent_name,
      inbound_key, sender_id, sender_name, inbound_text, inbound_at,
      reply_key, reply_sender_id, reply_text, model, prompt_tokens, completion_tokens, latency_ms, n)`.execute(db);
  const inserted = new Array<number>(list.length).fill(0);
  for (const row of rows) inserted[Number(row.n) - 1] = row.inserted;
  return inserted;
}
