import { type AgentRecord, type Database, withTenant } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { type RunContext, usageDay } from "./run-context.ts";

/** Options for {@link createRunContexts}. */
export interface RunContextsOptions {
  db: Kysely<Database>;
  /**
   * How long a tenant's limits, agents and today's token spend are trusted. Spend recorded by
   * this process is added at once; spend of other replicas shows up within this long.
   */
  ttlMs: number;
  now?: () => number;
}

/** The run context of each work item, read from PostgreSQL at most once per tenant and TTL. */
export interface RunContexts {
  /** The context for a run of `agentId`; null when the tenant is gone. */
  load(tenantId: string, agentId: string): Promise<RunContext | null>;
  /** Adds tokens this process just recorded to the cached spend, so the budget check sees them at once. */
  recorded(tenantId: string, tokens: number): void;
  /** Forgets one tenant (or every tenant), e.g. when PostgreSQL announces a configuration change (core `watchConfigChanges`). */
  invalidate(tenantId?: string): void;
}

interface TenantSnapshot {
  maxConcurrentRuns: number;
  tokensPerDay: number;
  day: string;
  tokensUsed: number;
  agents: Map<string, AgentRecord>;
}

interface Entry {
  expiresAt: number;
  value: Promise<TenantSnapshot | null>;
}

async function readSnapshot(db: Kysely<Database>, tenantId: string, day: string): Promise<TenantSnapshot | null> {
  return withTenant(db, tenantId, async (trx) => {
    const tenant = await trx.selectFrom("tenants").select(["max_concurrent_runs", "tokens_per_day"]).executeTakeFirst();
    if (!tenant) return null;
    const agents = await trx.selectFrom("agents").selectAll().execute();
    const usage = await trx
      .selectFrom("token_usage")
      .select(sql<string | null>`sum(prompt_tokens + completion_tokens)`.as("used"))
      .where("day", "=", day)
      .executeTakeFirst();
    return {
      maxConcurrentRuns: tenant.max_concurrent_runs,
      tokensPerDay: tenant.tokens_per_day,
      day,
      tokensUsed: Number(usage?.used ?? 0),
      agents: new Map(agents.map((a) => [a.id, a])),
    };
  });
}

/**
 * A per-tenant cache of {@link RunContext}: one tenant-scoped transaction per tenant and TTL
 * instead of one per run. Entries hold the read's promise, so a burst of runs for one tenant
 * costs one read; a failed read is not cached. An agent missing from a fresh snapshot is
 * re-read once, since the router may have routed to an agent created after the snapshot.
 *
 * The daily token budget was never exact — runs in flight at once all pass the check before
 * any of them records its tokens — and the TTL adds at most its own length of other replicas'
 * spend to that slack.
 */
export function createRunContexts(options: RunContextsOptions): RunContexts {
  const { db, ttlMs } = options;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const snapshot = (tenantId: string, fresh: boolean): Promise<TenantSnapshot | null> => {
    const hit = entries.get(tenantId);
    const day = usageDay(new Date(now()));
    if (!fresh && hit && hit.expiresAt > now()) {
      return hit.value.then((s) => (s && s.day !== day ? snapshot(tenantId, true) : s));
    }
    const entry: Entry = { expiresAt: now() + ttlMs, value: readSnapshot(db, tenantId, day) };
    entries.set(tenantId, entry);
    entry.value.catch(() => {
      if (entries.get(tenantId) === entry) entries.delete(tenantId);
    });
    return entry.value;
  };

  const toContext = (s: TenantSnapshot, agentId: string): RunContext => ({
    maxConcurrentRuns: s.maxConcurrentRuns,
    tokensPerDay: s.tokensPerDay,
    tokensUsedToday: s.tokensUsed,
    agent: s.agents.get(agentId) ?? null,
  });

  return {
    async load(tenantId, agentId) {
      const cached = await snapshot(tenantId, false);
      if (cached?.agents.has(agentId)) return toContext(cached, agentId);
      const fresh = await snapshot(tenantId, true);
      return fresh ? toContext(fresh, agentId) : null;
    },
    recorded(tenantId, tokens) {
      const entry = entries.get(tenantId);
      const day = usageDay(new Date(now()));
      void entry?.value.then(
        (s) => {
          if (s && s.day === day) s.tokensUsed += tokens;
        },
        () => {},
      );
    },
    invalidate(tenantId) {
      if (tenantId) entries.delete(tenantId);
      else entries.clear();
    },
  };
}
