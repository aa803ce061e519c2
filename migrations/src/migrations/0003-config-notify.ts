import { type Kysely, sql } from "kysely";

const TABLES = ["tenants", "agents", "channel_connections"] as const;

/**
 * Configuration changes announce themselves: every write to tenants, agents or channel
 * connections sends `NOTIFY konstruct_config` with the tenant id, whoever wrote it (the
 * operator, its local driver, a person with psql). Services that cache these rows LISTEN and
 * drop the tenant's entries, so a change applies at once instead of after a cache TTL.
 * Notifications are delivered at commit, so a listener never sees a change that rolled back.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function konstruct_notify_config_change() returns trigger
    language plpgsql set search_path = pg_catalog, public
    as $$
    declare
      -- jsonb, because plpgsql resolves row.field per table and tenants has no tenant_id.
      changed jsonb := to_jsonb(case when tg_op = 'DELETE' then old else new end);
      tenant text := case when tg_table_name = 'tenants' then changed ->> 'id' else changed ->> 'tenant_id' end;
    begin
      perform pg_notify('konstruct_config', json_build_object('table', tg_table_name, 'tenantId', tenant)::text);
      return null;
    end $$`.execute(db);
  await sql`alter function konstruct_notify_config_change() owner to konstruct_owner`.execute(db);
  for (const table of TABLES) {
    await sql`
      create trigger ${sql.id(`${table}_notify_config_change`)}
      after insert or update or delete on ${sql.table(table)}
      for each row execute function konstruct_notify_config_change()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`drop trigger if exists ${sql.id(`${table}_notify_config_change`)} on ${sql.table(table)}`.execute(db);
  }
  await sql`drop function if exists konstruct_notify_config_change()`.execute(db);
}
