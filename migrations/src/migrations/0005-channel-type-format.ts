import { type Kysely, sql } from "kysely";

/**
 * The channel type check becomes a format check. Which channel types exist is the channel
 * list's business (`@konstruct/channels`): the Tenant CRD's enum derives from it, and the
 * operator is the only writer of channel connections. A literal list here would make every new
 * channel a migration as well as a folder. The name stays a short lowercase token, since it is
 * a NATS subject token and a Redis key part.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table channel_connections drop constraint if exists channel_connections_channel_type_check`.execute(db);
  await sql`
    alter table channel_connections add constraint channel_connections_channel_type_check
    check (channel_type ~ '^[a-z][a-z0-9]{0,31}$')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table channel_connections drop constraint if exists channel_connections_channel_type_check`.execute(db);
  await sql`
    alter table channel_connections add constraint channel_connections_channel_type_check
    check (channel_type in ('slack', 'webchat'))`.execute(db);
}
