import { type Database, withTenant } from "@konstruct/core";
import { type Kysely, sql } from "kysely";

/** Days the usage page covers, ending today (UTC). */
export const USAGE_DAYS = 30;

export interface UsageRow {
  /** YYYY-MM-DD, UTC. */
  day: string;
  agent: string;
  messages: number;
  promptTokens: number;
  completionTokens: number;
}

export interface Usage {
  days: string[];
  rows: UsageRow[];
  /** Tokens per day over every agent, aligned with `days`. */
  tokensPerDay: number[];
  messagesPerDay: number[];
  limits: { tokensPerDay: number; messagesPerMinute: number };
}

/** Messages (from the history) and tokens (from token_usage) per day and per agent, with the tenant's limits. */
export async function usage(db: Kysely<Database>, tenantId: string, now = new Date()): Promise<Usage> {
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const days: string[] = [];
  for (let i = USAGE_DAYS - 1; i >= 0; i--) days.push(new Date(end.getTime() - i * 86_400_000).toISOString().slice(0, 10));
  const from = days[0] as string;
  return withTenant(db, tenantId, async (trx) => {
    const tenant = await trx
      .selectFrom("tenants")
      .select(["tokens_per_day", "messages_per_minute"])
      .where("id", "=", tenantId)
      .executeTakeFirstOrThrow();
    const tokens = await trx
      .selectFrom("token_usage as u")
      .innerJoin("agents as a", "a.id", "u.agent_id")
      .select([
        sql<string>`to_char(u.day, 'YYYY-MM-DD')`.as("day"),
        "a.display_name as agent",
        sql<string>`sum(u.prompt_tokens)`.as("prompt"),
        sql<string>`sum(u.completion_tokens)`.as("completion"),
      ])
      .where("u.day", ">=", from)
      .groupBy(["u.day", "a.display_name"])
      .execute();
    // By agent id, named as the agent is named now (a renamed agent stays one row); messages
    // of no agent under the empty name. Read from the per-day counts the history keeps
    // (migration 0014): one row per day and agent, however many messages.
    const { rows: messages } = await sql<{ day: string; agent: string; messages: string }>`
      select to_char(d.day, 'YYYY-MM-DD') as day, coalesce(a.display_name, d.agent_name, '') as agent, sum(d.messages) as messages
      from conversation_daily_counts d
      left join agents a on a.id = d.agent_id
      where d.day >= ${from}::date
      group by 1, 2`.execute(trx);
    const byKey = new Map<string, UsageRow>();
    const row = (day: string, agent: string) => {
      const key = `${day}\u0000${agent}`;
      let r = byKey.get(key);
      if (r === undefined) {
        r = { day, agent, messages: 0, promptTokens: 0, completionTokens: 0 };
        byKey.set(key, r);
      }
      return r;
    };
    for (const t of tokens) {
      const r = row(t.day, t.agent);
      r.promptTokens += Number(t.prompt);
      r.completionTokens += Number(t.completion);
    }
    for (const m of messages) row(m.day, m.agent).messages += Number(m.messages);
    const rows = [...byKey.values()].sort((a, b) => a.day.localeCompare(b.day) || a.agent.localeCompare(b.agent));
    const sumBy = (f: (r: UsageRow) => number) => days.map((d) => rows.filter((r) => r.day === d).reduce((s, r) => s + f(r), 0));
    return {
      days,
      rows,
      tokensPerDay: sumBy((r) => r.promptTokens + r.completionTokens),
      messagesPerDay: sumBy((r) => r.messages),
      limits: { tokensPerDay: Number(tenant.tokens_per_day), messagesPerMinute: tenant.messages_per_minute },
    };
  });
}

/** The usage as CSV: one line per day and agent (RFC 4180 quoting; cells that a spreadsheet would run as formulas are prefixed). */
export function usageCsv(u: Usage): string {
  const cell = (v: string | number) => {
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = ["day,agent,messages,prompt_tokens,completion_tokens"];
  for (const r of u.rows) lines.push([r.day, r.agent, r.messages, r.promptTokens, r.completionTokens].map(cell).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
