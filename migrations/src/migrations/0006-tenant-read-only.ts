import { type Kysely, sql } from "kysely";

/** Tenant-scoped tables the tenant's own login roles used to write (migration 0002). */
const CONFIGURATION_TABLES = ["agents", "channel_connections", "portal_users", "token_usage"] as const;

/**
 * Columns a tenant's login role may read, where not all of them: a column grant, because RLS
 * chooses rows, not columns. `credentials` holds the channel secrets encrypted with the
 * platform's key and `password_hash` the portal users' argon2 hashes (material for offline
 * guessing); neither is the tenant's data to read. Frozen in time like every migration: a
 * later migration that adds a column to these tables grants it to konstruct_tenant itself, or
 * the tenant does not see it (which is the safe way round).
 */
const READABLE_COLUMNS: Record<string, readonly string[]> = {
  channel_connections: ["id", "tenant_id", "name", "channel_type", "external_id", "settings", "created_at", "updated_at"],
  portal_users: ["id", "tenant_id", "email", "role", "created_at"],
};

/**
 * A tenant's own database login is read-only: with INSERT/UPDATE/DELETE it could
 * connect another company's Slack workspace to itself, rewrite its agents, or delete its
 * token_usage rows to reset its daily budget. Configuration is written only by the operator
 * (as admin) and the services (as konstruct_app, which keeps every privilege it had).
 *
 * No temporary tables either: PostgreSQL grants TEMP on every database to PUBLIC, and a
 * temporary table lives in the server's memory and disk outside any quota; the services
 * create none, so the grant goes from PUBLIC rather than being re-granted to anyone.
 *
 * The per-login settings (connection limit, statement and idle-in-transaction timeouts) are
 * not here: PostgreSQL applies `ALTER ROLE … SET` only to the role that logs in, never through
 * group membership, so the operator sets them on each tenant login role.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const table of CONFIGURATION_TABLES) {
    await sql`revoke insert, update, delete, truncate, references, trigger on ${sql.table(table)} from konstruct_tenant`.execute(
      db,
    );
  }
  for (const [table, columns] of Object.entries(READABLE_COLUMNS)) {
    await sql`revoke select on ${sql.table(table)} from konstruct_tenant`.execute(db);
    await sql`grant select (${sql.join(columns.map((c) => sql.id(c)))}) on ${sql.table(table)} to konstruct_tenant`.execute(db);
  }
  const { rows } = await sql<{ db: string }>`select current_database() as db`.execute(db);
  await sql`revoke temporary on database ${sql.id(rows[0]?.db as string)} from public`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ db: string }>`select current_database() as db`.execute(db);
  await sql`grant temporary on database ${sql.id(rows[0]?.db as string)} to public`.execute(db);
  for (const table of Object.keys(READABLE_COLUMNS)) {
    await sql`revoke select on ${sql.table(table)} from konstruct_tenant`.execute(db);
  }
  await sql`grant select, insert, update, delete on ${sql.join(CONFIGURATION_TABLES.map((t) => sql.table(t)))} to konstruct_tenant`.execute(
    db,
  );
}
