import type { Database } from "@konstruct/core/db/types";
import type { Kysely } from "kysely";
import type { TenantRow, TenantRows } from "../ports.ts";

/** The tenants table, as konstruct_operator (its `operator_all` policy reaches every tenant's row). */
export function createTenantRows(db: Kysely<Database>): TenantRows {
  const toColumns = (row: TenantRow) => ({
    name: row.name,
    display_name: row.displayName,
    namespace: row.namespace,
    messages_per_minute: row.messagesPerMinute,
    max_concurrent_runs: row.maxConcurrentRuns,
    tokens_per_day: row.tokensPerDay,
    history_retention_days: row.historyRetentionDays,
  });
  return {
    async get(id) {
      const r = await db.selectFrom("tenants").selectAll().where("id", "=", id).executeTakeFirst();
      if (r === undefined) return null;
      return {
        id: r.id,
        name: r.name,
        displayName: r.display_name,
        namespace: r.namespace,
        messagesPerMinute: r.messages_per_minute,
        maxConcurrentRuns: r.max_concurrent_runs,
        tokensPerDay: r.tokens_per_day,
        historyRetentionDays: r.history_retention_days,
      };
    },
    async idByName(name) {
      const r = await db.selectFrom("tenants").select("id").where("name", "=", name).executeTakeFirst();
      return r?.id ?? null;
    },
    async insert(row) {
      await db
        .insertInto("tenants")
        .values({ id: row.id, ...toColumns(row) })
        .execute();
    },
    async update(row) {
      await db
        .updateTable("tenants")
        .set({ ...toColumns(row), updated_at: new Date() })
        .where("id", "=", row.id)
        .execute();
    },
    async delete(id) {
      await db.deleteFrom("tenants").where("id", "=", id).execute();
    },
  };
}
