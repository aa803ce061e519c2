import type { Database } from "@konstruct/core/db/types";
import type { Logger } from "@konstruct/core/logger";
import { type Kysely, sql } from "kysely";

/** What one purge pass deleted. */
export interface PurgeResult {
  tenants: number;
  messages: number;
  conversations: number;
}

export interface PurgeOptions {
  /** Rows deleted per statement: each statement is its own short transaction. */
  batchSize?: number;
  /** Checked between batches: a pass stops early when leadership ends. */
  stopped?: () => boolean;
}

export const PURGE_BATCH_SIZE = 1_000;

/**
 * Deletes every tenant's conversation messages older than its `history_retention_days`, then the
 * conversations left without messages. The cut-off is the database's clock. Work goes tenant by
 * tenant in batches of `batchSize` rows, each its own statement, so no lock is held longer than
 * one batch takes and the pipeline's writes interleave. A conversation keeps `message_count`
 * equal to the messages it still has.
 *
 * Runs across tenants as the operator's database role, `konstruct_operator`: not BYPASSRLS, it
 * reaches every tenant's rows through its own `operator_all` policies (migrations 0010, 0013) and
 * holds SELECT on `tenants`, SELECT and DELETE on `conversation_messages`, and SELECT, UPDATE and
 * DELETE on `conversations`. A role that bypasses row-level security with those grants works too.
 */
export async function purgeHistory(db: Kysely<Database>, options: PurgeOptions = {}): Promise<PurgeResult> {
  const batch = options.batchSize ?? PURGE_BATCH_SIZE;
  const stopped = options.stopped ?? (() => false);
  const tenants = await db.selectFrom("tenants").select(["id", "history_retention_days"]).orderBy("id").execute();
  const result: PurgeResult = { tenants: 0, messages: 0, conversations: 0 };
  for (const tenant of tenants) {
    let messages = 0;
    let conversations = 0;
    for (let n = batch; n === batch && !stopped(); ) {
      n = await deleteMessages(db, tenant.id, tenant.history_retention_days, batch);
      messages += n;
    }
    for (let n = batch; n === batch && !stopped(); ) {
      n = await deleteEmptyConversations(db, tenant.id, tenant.history_retention_days, batch);
      conversations += n;
    }
    if (messages + conversations > 0) result.tenants++;
    result.messages += messages;
    result.conversations += conversations;
    if (stopped()) break;
  }
  return result;
}

/** One batch of a tenant's expired messages, oldest first, with their conversations' counts lowered. */
async function deleteMessages(db: Kysely<Database>, tenantId: string, days: number, batch: number): Promise<number> {
  // Data-modifying CTEs run once whether or not the outer query reads them; the `tenant_id`
  // conditions keep every scan on the (tenant_id, …) indexes. No row lock on the messages (it
  // would need UPDATE on the table): only the purge deletes them, and a second purger racing
  // for the same rows finds them gone.
  const { rows } = await sql<{ n: number }>`
    with doomed as (
      select id from conversation_messages
      where tenant_id = ${tenantId} and created_at < now() - make_interval(days => ${days})
      order by created_at
      limit ${batch}
    ), deleted as (
      delete from conversation_messages m using doomed d
      where m.id = d.id
      returning m.conversation_id
    ), lowered as (
      update conversations c set message_count = greatest(c.message_count - x.n, 0)
      from (select conversation_id, count(*)::int as n from deleted group by conversation_id) x
      where c.tenant_id = ${tenantId} and c.id = x.conversation_id
    )
    select count(*)::int as n from deleted`.execute(db);
  return rows[0]?.n ?? 0;
}

/**
 * One batch of a tenant's conversations that have no messages left and nothing newer than the
 * cut-off. `skip locked` passes over a conversation the pipeline is writing to (it holds the row
 * while it adds messages); the next pass takes it if it is still empty.
 */
async function deleteEmptyConversations(db: Kysely<Database>, tenantId: string, days: number, batch: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    with doomed as (
      select c.id from conversations c
      where c.tenant_id = ${tenantId} and c.last_message_at < now() - make_interval(days => ${days})
        and not exists (
          select 1 from conversation_messages m where m.tenant_id = c.tenant_id and m.conversation_id = c.id
        )
      limit ${batch}
      for update skip locked
    ), deleted as (
      delete from conversations c using doomed d where c.id = d.id returning c.id
    )
    select count(*)::int as n from deleted`.execute(db);
  return rows[0]?.n ?? 0;
}

/** A running periodic purge. */
export interface HistoryPurger {
  /** Stops the timer and waits for a pass in flight to end (it stops between batches). */
  stop(): Promise<void>;
}

/**
 * Purges at once and then every `intervalMs`, one pass at a time. A failed pass is logged and
 * retried at the next tick: expired history waits an interval longer, nothing else depends on it.
 */
export function startHistoryPurge(options: {
  db: Kysely<Database>;
  log: Logger;
  intervalMs: number;
  batchSize?: number;
  onPurged?: (result: PurgeResult) => void;
}): HistoryPurger {
  const { db, log, intervalMs } = options;
  let stopping = false;
  let inFlight: Promise<void> | null = null;
  // One pass at a time: a tick that finds the last pass still running is skipped.
  const pass = () => {
    if (inFlight || stopping) return;
    inFlight = (async () => {
      const started = performance.now();
      try {
        const result = await purgeHistory(db, { batchSize: options.batchSize, stopped: () => stopping });
        options.onPurged?.(result);
        const ms = Math.round(performance.now() - started);
        if (result.messages + result.conversations > 0) log.info({ ...result, ms }, "purged expired conversation history");
        else log.debug({ ms }, "no conversation history past its retention");
      } catch (err) {
        log.warn({ err }, "purging conversation history failed; retrying at the next interval");
      }
    })().finally(() => {
      inFlight = null;
    });
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopping = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
