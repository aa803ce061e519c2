import { type Kysely, sql } from "kysely";

/**
 * Which channel types exist is the channel modules' business (`@konstruct/channels`): a literal
 * list in this table's check would make every new channel a migration as well as a folder. The
 * check now asks `konstruct_channel_types()`, which `migrateToLatest` rewrites from the channel
 * list after every run (see channel-types.ts). This migration only installs the function with
 * the two types that existed when it was written.
 *
 * The function is declared immutable, which a check constraint requires; the promise it breaks
 * is only that rows already stored are not checked again when the list changes, which is what
 * a list that only grows needs.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function konstruct_channel_types() returns text[]
    language sql immutable parallel safe
    as $$ select array['slack', 'webchat']::text[] $$`.execute(db);
  await sql`alter function konstruct_channel_types() owner to konstruct_owner`.execute(db);
  await sql`alter table channel_connections drop constraint if exists channel_connections_channel_type_check`.execute(db);
  await sql`
    alter table channel_connections add constraint channel_connections_channel_type_check
    check (channel_type = any (konstruct_channel_types()))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table channel_connections drop constraint if exists channel_connections_channel_type_check`.execute(db);
  await sql`
    alter table channel_connections add constraint channel_connections_channel_type_check
    check (channel_type in ('slack', 'webchat'))`.execute(db);
  await sql`drop function if exists konstruct_channel_types()`.execute(db);
}
