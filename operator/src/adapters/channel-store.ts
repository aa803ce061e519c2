import type { Database } from "@konstruct/core/db/types";
import type { ChannelType } from "@konstruct/core/message";
import type { Kysely } from "kysely";
import { SpecConflictError } from "../errors.ts";
import type { ChannelStore } from "../ports.ts";

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: string; constraint?: string };
  return e.code === "23505" && (e.constraint ?? "").includes(constraint);
}

function externalIdTaken(type: string, externalId: string): SpecConflictError {
  return new SpecConflictError("ExternalIdTaken", `${type} ${externalId} is already connected to another tenant or channel`);
}

/** channel_connections, as konstruct_operator (its `operator_all` policy, not the tenant's). */
export function createChannelStore(db: Kysely<Database>): ChannelStore {
  return {
    async list(tenantId) {
      const rows = await db.selectFrom("channel_connections").selectAll().where("tenant_id", "=", tenantId).execute();
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        type: r.channel_type,
        externalId: r.external_id,
        credentials: r.credentials,
        settings: r.settings,
      }));
    },
    async insert(tenantId, row) {
      try {
        const r = await db
          .insertInto("channel_connections")
          .values({
            tenant_id: tenantId,
            name: row.name,
            channel_type: row.type as ChannelType,
            external_id: row.externalId,
            credentials: row.credentials,
            settings: JSON.stringify(row.settings),
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        return r.id;
      } catch (error) {
        if (isUniqueViolation(error, "channel_type_external_id")) throw externalIdTaken(row.type, row.externalId);
        throw error;
      }
    },
    async update(tenantId, row) {
      try {
        await db
          .updateTable("channel_connections")
          .set({
            channel_type: row.type as ChannelType,
            external_id: row.externalId,
            credentials: row.credentials,
            settings: JSON.stringify(row.settings),
            updated_at: new Date(),
          })
          .where("tenant_id", "=", tenantId)
          .where("id", "=", row.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error, "channel_type_external_id")) throw externalIdTaken(row.type, row.externalId);
        throw error;
      }
    },
    async delete(tenantId, id) {
      await db.deleteFrom("channel_connections").where("tenant_id", "=", tenantId).where("id", "=", id).execute();
    },
  };
}
