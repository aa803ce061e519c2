import { type Kysely, sql } from "kysely";

/**
 * The operator's role (0010) on the tables that came with the portal and the conversation
 * history: it issues first owners' invitations (`portal_invitations`), sees who joined
 * (`portal_users`, already readable), purges history past each tenant's retention
 * (`conversation_messages`, `conversations`), and a deleted tenant's sessions go with it
 * (`portal_sessions`). The same `operator_all` policy as on the tables it provisions; grants
 * no wider than those steps.
 */
const TABLES = ["portal_invitations", "portal_sessions", "conversations", "conversation_messages"] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`
      create policy operator_all on ${sql.table(table)} as permissive for all to konstruct_operator
      using (true) with check (true)`.execute(db);
  }
  await sql`grant select, insert, update, delete on portal_invitations to konstruct_operator`.execute(db);
  await sql`grant select, delete on portal_sessions, conversation_messages to konstruct_operator`.execute(db);
  await sql`grant select, update, delete on conversations to konstruct_operator`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`drop policy if exists operator_all on ${sql.table(table)}`.execute(db);
    await sql`revoke all on ${sql.table(table)} from konstruct_operator`.execute(db);
  }
}
