import { type Kysely, sql } from "kysely";

/**
 * Which Tenant resource holds each tenant id, so that a Tenant whose spec.tenantId names a
 * live tenant's id is refused instead of taking over its rows, role and channels. The operator
 * records the claim (the Tenant's metadata.uid) before it writes anything for the id, releases
 * it when the Tenant is deleted (Retain leaves the data free to adopt; Delete drops it with the
 * data), and treats a holder uid that no Tenant has any more as released.
 *
 * No foreign key to tenants: the claim comes first. Not tenant-scoped and granted to no
 * service or tenant role: only the operator (the admin connection) reads it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table tenant_owners (
      tenant_id uuid primary key,
      owner_uid text not null,
      owner_name text not null,
      claimed_at timestamptz not null default now()
    )`.execute(db);
  await sql`alter table tenant_owners owner to konstruct_owner`.execute(db);
  await sql`revoke all on tenant_owners from public`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists tenant_owners`.execute(db);
}
