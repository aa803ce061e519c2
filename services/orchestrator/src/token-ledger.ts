import { assertTenantId, type Database, type Logger } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { usageDay } from "./run-context.ts";

/** Tokens of one run. */
export interface RunTokens {
  prompt: number;
  completion: number;
}

/** Where runs' token counts go on their way to `token_usage`. */
export interface TokenLedger {
  /** Counts one run's tokens; resolves once they are recorded or queued (see the ledger's bound). */
  add(tenantId: string, agentId: string, tokens: RunTokens): Promise<void>;
  /** Writes everything queued; rejects (keeping it queued) when PostgreSQL refuses. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is queued. */
  close(): Promise<void>;
}

/** Options for {@link createTokenLedger}. */
export interface TokenLedgerOptions {
  db: Kysely<Database>;
  log: Logger;
  /** Longest time a counted run waits for its write: the bound on what a crash can lose. */
  intervalMs?: number;
  /** Runs queued that start a write at once, before the interval ends. */
  maxRuns?: number;
  now?: () => number;
}

interface Pending {
  tenantId: string;
  agentId: string;
  day: string;
  prompt: number;
  completion: number;
  runs: number;
}

/**
 * Token counts written in batches: runs are summed per tenant, agent and day in memory and
 * written together in one statement (0008's `konstruct_record_tokens` with a run count, once per
 * row) every `intervalMs` or `maxRuns` runs, whichever comes first — one PostgreSQL write per
 * batch instead of one per message.
 *
 * What it costs: a run's tokens are claimed in Redis when its reply settles (so a redelivery
 * never counts them twice), and reach PostgreSQL with the next batch. A crash (SIGKILL, OOM)
 * of the orchestrator loses the counts it had queued: at most `intervalMs` (1 s) or `maxRuns`
 * (256) of that replica's runs, whichever is fewer. A graceful stop writes them. A failed write
 * keeps them queued for the next one (and logs), so PostgreSQL being down loses nothing.
 *
 * The daily budget is unchanged in kind: this process adds every run's tokens to its cached
 * spend at once (run-context-cache.ts `recorded`), so its own budget check never waits for the
 * write; other replicas see the spend after the write and their cache's TTL (≤ 1 s + 1 s), where
 * before they saw it after the TTL only. Runs in flight at once all pass the check before any
 * of them counts, as they always did: the budget stops runaway use, it is not exact.
 */
export function createTokenLedger(options: TokenLedgerOptions): TokenLedger {
  const intervalMs = options.intervalMs ?? 1_000;
  const maxRuns = options.maxRuns ?? 256;
  const now = options.now ?? Date.now;
  let pending = new Map<string, Pending>();
  let queuedRuns = 0;
  let writing: Promise<void> = Promise.resolve();

  const write = async (batch: Map<string, Pending>): Promise<void> => {
    const rows = [...batch.values()];
    if (rows.length === 0) return;
    try {
      await sql`select konstruct_record_tokens(t, a, d, p, c, r) from unnest(
        ${rows.map((r) => r.tenantId)}::uuid[], ${rows.map((r) => r.agentId)}::uuid[], ${rows.map((r) => r.day)}::date[],
        ${rows.map((r) => r.prompt)}::bigint[], ${rows.map((r) => r.completion)}::bigint[], ${rows.map((r) => r.runs)}::integer[]
      ) as b(t, a, d, p, c, r)`.execute(options.db);
    } catch (error) {
      // Back into the queue, summed with what came meanwhile: the next write retries them.
      for (const row of rows) merge(row.tenantId, row.agentId, row.day, row);
      options.log.warn({ err: error, rows: rows.length }, "writing token counts failed; kept for the next batch");
      throw error;
    }
  };

  const merge = (tenantId: string, agentId: string, day: string, add: Omit<Pending, "tenantId" | "agentId" | "day">) => {
    const key = `${tenantId} ${agentId} ${day}`;
    const row = pending.get(key);
    if (row) {
      row.prompt += add.prompt;
      row.completion += add.completion;
      row.runs += add.runs;
    } else pending.set(key, { tenantId, agentId, day, ...add });
    queuedRuns += add.runs;
  };

  const flush = (): Promise<void> => {
    // Writes go one after another, so a retried batch never races the next one.
    const next = writing.then(() => {
      const batch = pending;
      pending = new Map();
      queuedRuns = 0;
      return write(batch);
    });
    writing = next.catch(() => {});
    return next;
  };

  const timer = setInterval(() => {
    if (pending.size > 0) flush().catch(() => {});
  }, intervalMs);
  timer.unref();

  return {
    async add(tenantId, agentId, tokens) {
      assertTenantId(tenantId);
      merge(tenantId, agentId, usageDay(new Date(now())), { prompt: tokens.prompt, completion: tokens.completion, runs: 1 });
      if (queuedRuns >= maxRuns) flush().catch(() => {});
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** A ledger that writes each run at once (one statement per run): for tests and tools that want the row now. */
export function createImmediateTokenLedger(db: Kysely<Database>): TokenLedger {
  return {
    async add(tenantId, agentId, tokens) {
      assertTenantId(tenantId);
      await sql`select konstruct_record_tokens(${tenantId}, ${agentId}, ${usageDay()}, ${tokens.prompt}, ${tokens.completion})`.execute(
        db,
      );
    },
    flush: async () => {},
    close: async () => {},
  };
}
