import { CHANNEL_TYPES } from "@konstruct/channels";
import { type Kysely, sql } from "kysely";

const TYPE = /^[a-z][a-z0-9]{0,31}$/;

/**
 * Makes the database accept exactly the channel types of the channel list: rewrites
 * `konstruct_channel_types()`, which channel_connections' check constraint calls, when it
 * differs. Runs after the migrations, like a repeatable migration, in a transaction holding an
 * advisory lock so concurrent migrators take turns.
 */
export async function syncChannelTypes(db: Kysely<any>, types: readonly string[] = CHANNEL_TYPES): Promise<void> {
  for (const type of types) {
    if (!TYPE.test(type))
      throw new Error(`channel type ${JSON.stringify(type)} is not a lowercase token of at most 32 characters`);
  }
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('konstruct_channel_types'))`.execute(trx);
    const { rows } = await sql<{ types: string[] }>`select konstruct_channel_types() as types`.execute(trx);
    if (JSON.stringify(rows[0]?.types ?? []) === JSON.stringify(types)) return;
    // The names were checked above: each is a bare lowercase token, safe inside the literal.
    const list = types.map((t) => `'${t}'`).join(", ");
    await sql
      .raw(
        `create or replace function konstruct_channel_types() returns text[] language sql immutable parallel safe ` +
          `as $$ select array[${list}]::text[] $$`,
      )
      .execute(trx);
  });
}
