import { type AgentRecord, assertTenantId, type Database, withTenant } from "@konstruct/core";
import { type Kysely, sql } from "kysely";

/** What one run needs from the database: the tenant's limits, the agent, and today's token spend. */
export interface RunContext {
  maxConcurrentRuns: number;
  tokensPerDay: number;
  tokensUsedToday: number;
  agent: AgentRecord | null;
}

/** The UTC calendar day a token is counted on. */
export function usageDay(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** Loads a run's context in one tenant-scoped transaction; null when the tenant is gone. */
export async function loadRunContext(db: Kysely<Database>, tenantId: string, agentId: string): Promise<RunContext | null> {
  return withTenant(db, tenantId, async (trx) => {
    const tenant = await trx.selectFrom("tenants").select(["max_concurrent_runs", "tokens_per_day"]).executeTakeFirst();
    if (!tenant) return null;
    const agent = await trx.selectFrom("agents").selectAll().where("id", "=", agentId).executeTakeFirst();
    const usage = await trx
      .selectFrom("token_usage")
      .select(sql<string | null>`sum(prompt_tokens + completion_tokens)`.as("used"))
      .where("day", "=", usageDay())
      .executeTakeFirst();
    return {
      maxConcurrentRuns: tenant.max_concurrent_runs,
      tokensPerDay: tenant.tokens_per_day,
      tokensUsedToday: Number(usage?.used ?? 0),
      agent: agent ?? null,
    };
  });
}

/**
 * Adds one run's tokens to the agent's daily row (insert or increment) in one statement:
 * migration 0004's `konstruct_record_tokens` sets the tenant and upserts under the same RLS
 * policy `withTenant` relies on, in one round trip instead of four.
 */
export async function recordTokenUsage(
  db: Kysely<Database>,
  tenantId: string,
  agentId: string,
  tokens: { prompt: number; completion: number },
): Promise<void> {
  assertTenantId(tenantId);
  await sql`select konstruct_record_tokens(${tenantId}, ${agentId}, ${usageDay()}, ${tokens.prompt}, ${tokens.completion})`.execute(
    db,
  );
}
