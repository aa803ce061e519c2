import type { Database } from "@konstruct/core/db/types";
import type { Kysely } from "kysely";
import type { TenantOwners } from "../ports.ts";

/** The tenant_owners table, as konstruct_operator: each write is one atomic statement. */
export function createTenantOwners(db: Kysely<Database>): TenantOwners {
  return {
    async get(tenantId) {
      const r = await db
        .selectFrom("tenant_owners")
        .select(["owner_uid", "owner_name"])
        .where("tenant_id", "=", tenantId)
        .executeTakeFirst();
      return r === undefined ? null : { uid: r.owner_uid, name: r.owner_name };
    },
    async claim(tenantId, owner, expected) {
      if (expected === null) {
        // Two Tenants claiming a free id at once: the primary key lets exactly one insert.
        const r = await db
          .insertInto("tenant_owners")
          .values({ tenant_id: tenantId, owner_uid: owner.uid, owner_name: owner.name })
          .onConflict((oc) => oc.column("tenant_id").doNothing())
          .returning("tenant_id")
          .executeTakeFirst();
        return r !== undefined;
      }
      const r = await db
        .updateTable("tenant_owners")
        .set({ owner_uid: owner.uid, owner_name: owner.name, claimed_at: new Date() })
        .where("tenant_id", "=", tenantId)
        .where("owner_uid", "=", expected)
        .returning("tenant_id")
        .executeTakeFirst();
      return r !== undefined;
    },
    async release(tenantId, ownerUid) {
      await db.deleteFrom("tenant_owners").where("tenant_id", "=", tenantId).where("owner_uid", "=", ownerUid).execute();
    },
  };
}
