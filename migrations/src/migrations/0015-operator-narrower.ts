import { type Kysely, sql } from "kysely";

/**
 * Takes back what 0010 and 0013 gave the operator's role for cascades only. PostgreSQL runs a
 * foreign key's ON DELETE CASCADE as the referencing table's owner, not bound by forced row
 * security, so deleting a tenant removes its token usage, portal users and sessions without the
 * operator holding a policy or DELETE there (test/db/operator-role.test.ts deletes a tenant as
 * konstruct_operator and checks every table is emptied). It keeps SELECT on portal_users: the
 * owner invitations read who has joined.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of ["token_usage", "portal_sessions"]) {
    await sql`drop policy if exists operator_all on ${sql.table(table)}`.execute(db);
    await sql`revoke all on ${sql.table(table)} from konstruct_operator`.execute(db);
  }
  await sql`revoke delete on portal_users from konstruct_operator`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`grant delete on portal_users to konstruct_operator`.execute(db);
  await sql`grant select, delete on token_usage, portal_sessions to konstruct_operator`.execute(db);
  for (const table of ["token_usage", "portal_sessions"]) {
    await sql`
      create policy operator_all on ${sql.table(table)} as permissive for all to konstruct_operator
      using (true) with check (true)`.execute(db);
  }
}
