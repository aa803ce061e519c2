import type { Database } from "@konstruct/core/db/types";
import type { Kysely } from "kysely";
import { SpecConflictError } from "../errors.ts";
import type { AgentRow, AgentStore } from "../ports.ts";

const toColumns = (row: Omit<AgentRow, "id">) => ({
  display_name: row.displayName,
  role: row.role,
  system_prompt: row.systemPrompt,
  model: row.model,
  fallback_models: row.fallbackModels,
  temperature: row.temperature,
  max_history_messages: row.maxHistoryMessages,
  is_default: row.isDefault,
  channels: row.channels,
});

function mapDefaultConflict(error: unknown): unknown {
  const e = error as { code?: string; constraint?: string };
  if (e.code === "23505" && e.constraint === "agents_one_default_per_tenant") {
    return new SpecConflictError(
      "DefaultConflict",
      "another Agent of this tenant is already the default; set default: false on one",
    );
  }
  return error;
}

/** The agents table, as konstruct_operator (its `operator_all` policy, not the tenant's). */
export function createAgentStore(db: Kysely<Database>): AgentStore {
  return {
    async get(tenantId, name) {
      const r = await db
        .selectFrom("agents")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("name", "=", name)
        .executeTakeFirst();
      if (r === undefined) return null;
      return {
        id: r.id,
        name: r.name,
        displayName: r.display_name,
        role: r.role,
        systemPrompt: r.system_prompt,
        model: r.model,
        fallbackModels: r.fallback_models,
        temperature: r.temperature,
        maxHistoryMessages: r.max_history_messages,
        isDefault: r.is_default,
        channels: r.channels,
      };
    },
    async defaultAgent(tenantId) {
      const r = await db
        .selectFrom("agents")
        .select("name")
        .where("tenant_id", "=", tenantId)
        .where("is_default", "=", true)
        .executeTakeFirst();
      return r?.name ?? null;
    },
    async insert(tenantId, row) {
      try {
        const r = await db
          .insertInto("agents")
          .values({ tenant_id: tenantId, name: row.name, ...toColumns(row) })
          .returning("id")
          .executeTakeFirstOrThrow();
        return r.id;
      } catch (error) {
        throw mapDefaultConflict(error);
      }
    },
    async update(tenantId, row) {
      try {
        await db
          .updateTable("agents")
          .set({ ...toColumns(row), updated_at: new Date() })
          .where("tenant_id", "=", tenantId)
          .where("id", "=", row.id)
          .execute();
      } catch (error) {
        throw mapDefaultConflict(error);
      }
    },
    async delete(tenantId, name) {
      await db.deleteFrom("agents").where("tenant_id", "=", tenantId).where("name", "=", name).execute();
    },
  };
}
