import type { Database } from "@konstruct/core/db/types";
import { type Kysely, sql } from "kysely";
import type { OwnerInvitations } from "../ports.ts";

/**
 * portal_invitations and portal_users as konstruct_operator, across tenants through its
 * `operator_all` policies (migrations 0010, 0013). The operator's invitations are those with
 * role owner and no inviter.
 * Time is the database's (`now()`), the clock every reader of expires_at uses.
 */
export function createOwnerInvitations(db: Kysely<Database>): OwnerInvitations {
  return {
    async state(tenantId, emails) {
      const lower = [...new Set(emails.map((e) => e.toLowerCase()))];
      // One read: every user of this tenant counts as joined, asked about or not (an owner listed
      // later is not invited again); another tenant's user only matters when asked about.
      const users = await db
        .selectFrom("portal_users")
        .select(["tenant_id", sql<string>`lower(email)`.as("email")])
        .where((eb) =>
          lower.length === 0
            ? eb("tenant_id", "=", tenantId)
            : eb.or([eb("tenant_id", "=", tenantId), eb(sql<string>`lower(email)`, "in", lower)]),
        )
        .execute();
      const joined = new Set<string>();
      const elsewhere = new Set<string>();
      for (const u of users) (u.tenant_id === tenantId ? joined : elsewhere).add(u.email);
      const live = await db
        .selectFrom("portal_invitations")
        .select(["id", "email", "token_hash"])
        .where("tenant_id", "=", tenantId)
        .where("role", "=", "owner")
        .where("invited_by", "is", null)
        .where("accepted_at", "is", null)
        .where("expires_at", ">", sql<Date>`now()`)
        .execute();
      return { joined, elsewhere, live: live.map((r) => ({ id: r.id, email: r.email, tokenHash: r.token_hash })) };
    },
    async issue(tenantId, email, tokenHash, days) {
      const row = await db
        .insertInto("portal_invitations")
        .values({
          tenant_id: tenantId,
          email,
          role: "owner",
          token_hash: tokenHash,
          invited_by: null,
          expires_at: sql<Date>`now() + make_interval(days => ${days})`,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      return row.id;
    },
    async revoke(tenantId, ids) {
      if (ids.length === 0) return;
      await db
        .updateTable("portal_invitations")
        .set({ expires_at: sql<Date>`now()` })
        .where("tenant_id", "=", tenantId)
        .where("id", "in", [...ids])
        .where("accepted_at", "is", null)
        .execute();
    },
  };
}
