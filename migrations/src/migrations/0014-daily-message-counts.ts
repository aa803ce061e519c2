import { type Kysely, sql } from "kysely";

/**
 * `conversation_daily_counts`: messages per tenant, UTC day and agent, kept as the history is
 * written, so the portal's usage page reads one row per day and agent instead of counting a
 * month of `conversation_messages` on every request.
 *
 * A statement-level trigger on `conversation_messages` adds each statement's new rows (through
 * its transition table: one upsert per day and agent, not one per row), whoever writes them —
 * the orchestrator's `konstruct_record_history`, or a fixture. It runs as the writer (SECURITY
 * INVOKER), under the same `app_tenant_isolation` policy. Only rows really inserted are in the
 * transition table, so a redelivered run (`ON CONFLICT DO NOTHING`) counts nothing twice.
 *
 * The counts are usage, not content: the retention purge deletes messages and leaves them, as
 * it leaves `token_usage`. A deleted tenant's go with it (a cascade, which PostgreSQL runs as the
 * table's owner: the operator needs no grant here). Existing history is counted once here.
 */
/** The agent id counted for messages of no agent (the key needs no nullable column). */
export const NO_AGENT = "00000000-0000-0000-0000-000000000000";

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table conversation_daily_counts (
      tenant_id uuid not null references tenants (id) on delete cascade,
      day date not null,
      -- the all-zero id for messages of no agent, so the key needs no nullable column
      agent_id uuid not null,
      -- the agent's name when it last wrote, for agents deleted since
      agent_name text,
      messages bigint not null default 0,
      primary key (tenant_id, day, agent_id)
    )`.execute(db);
  await sql`alter table conversation_daily_counts owner to konstruct_owner`.execute(db);
  await sql`alter table conversation_daily_counts enable row level security`.execute(db);
  await sql`alter table conversation_daily_counts force row level security`.execute(db);
  await sql`
    create policy app_tenant_isolation on conversation_daily_counts as permissive for all to konstruct_app
    using (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)`.execute(db);
  await sql`
    create policy tenant_role_isolation on conversation_daily_counts as permissive for select to konstruct_tenant
    using (tenant_id = konstruct_session_tenant())`.execute(db);
  await sql`grant select, insert, update on conversation_daily_counts to konstruct_app`.execute(db);
  await sql`grant select on conversation_daily_counts to konstruct_tenant`.execute(db);

  await createCountTrigger(db);

  await sql
    .raw(`
    insert into conversation_daily_counts (tenant_id, day, agent_id, agent_name, messages)
    select tenant_id, (created_at at time zone 'UTC')::date, coalesce(agent_id, '${NO_AGENT}'::uuid), max(agent_name), count(*)
    from conversation_messages group by 1, 2, 3`)
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger if exists conversation_messages_count on conversation_messages`.execute(db);
  await sql`drop function if exists konstruct_count_messages()`.execute(db);
  await sql`drop table if exists conversation_daily_counts`.execute(db);
}

/**
 * The statement-level trigger that counted `conversation_messages` rows as they were inserted.
 * Migration 0019 replaced it by counting in the history write itself; its `down` puts it back.
 */
export async function createCountTrigger(db: Kysely<any>): Promise<void> {
  await sql
    .raw(`
    create function konstruct_count_messages() returns trigger
    language plpgsql security invoker set search_path = pg_catalog, public
    as $$
    begin
      insert into public.conversation_daily_counts as c (tenant_id, day, agent_id, agent_name, messages)
      select tenant_id, (created_at at time zone 'UTC')::date, coalesce(agent_id, '${NO_AGENT}'::uuid),
             max(agent_name), count(*)
      from new_messages
      group by 1, 2, 3
      on conflict (tenant_id, day, agent_id) do update
        set messages = c.messages + excluded.messages,
            agent_name = coalesce(excluded.agent_name, c.agent_name);
      return null;
    end $$`)
    .execute(db);
  await sql`alter function konstruct_count_messages() owner to konstruct_owner`.execute(db);
  await sql`revoke all on function konstruct_count_messages() from public`.execute(db);
  await sql`
    create trigger conversation_messages_count
    after insert on conversation_messages
    referencing new table as new_messages
    for each statement execute function konstruct_count_messages()`.execute(db);
}
