import { type Kysely, sql } from "kysely";

/**
 * Conversation history: every message an agent answered and every reply, kept durably for the
 * portal (Redis keeps only a thread's working memory, and it expires).
 *
 * - `conversations`: one row per thread of a channel (`thread_key` is the channel's own identity
 *   of the thread, e.g. workspace/channel/thread for Slack), with the counters a list page needs,
 *   so listing 10,000 conversations never aggregates their messages.
 * - `conversation_messages`: one row per inbound message or reply. `message_key` makes the
 *   write idempotent: a redelivered message or a retried run inserts nothing twice.
 *   `search` is PostgreSQL full-text search over the text, with the 'simple' configuration (no
 *   language-specific stemming: tenants write in every language).
 * - `tenants.history_retention_days`: how long a tenant's history is kept; a periodic purge
 *   deletes what is older.
 *
 * Both tables are tenant-scoped under FORCE RLS; a tenant's login role reads its own history
 * (it is the tenant's data) and writes none of it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table tenants add column history_retention_days integer not null default 90
            check (history_retention_days between 1 and 3650)`.execute(db);

  await sql`
    create table conversations (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      channel_type text not null,
      -- the tenant's name for the channel connection (Tenant spec.channels[].name)
      connection_name text not null default '',
      thread_key text not null check (length(thread_key) between 1 and 800),
      -- the agent that answered last; no foreign key: history outlives a deleted agent
      agent_id uuid,
      subject text not null default '' check (length(subject) <= 200),
      started_at timestamptz not null,
      last_message_at timestamptz not null,
      message_count integer not null default 0,
      unique (tenant_id, channel_type, thread_key)
    )`.execute(db);
  await sql`create index conversations_recent on conversations (tenant_id, last_message_at desc)`.execute(db);
  await sql`create index conversations_by_connection on conversations (tenant_id, connection_name, last_message_at desc)`.execute(
    db,
  );

  await sql`
    create table conversation_messages (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      conversation_id uuid not null references conversations (id) on delete cascade,
      message_key text not null check (length(message_key) between 1 and 300),
      direction text not null check (direction in ('inbound', 'reply')),
      sender_id text not null default '',
      sender_name text,
      agent_id uuid,
      agent_name text,
      model text,
      prompt_tokens integer,
      completion_tokens integer,
      latency_ms integer,
      text text not null,
      created_at timestamptz not null,
      search tsvector generated always as (to_tsvector('simple', text)) stored,
      unique (tenant_id, message_key)
    )`.execute(db);
  await sql`create index conversation_messages_thread on conversation_messages (tenant_id, conversation_id, created_at)`.execute(
    db,
  );
  await sql`create index conversation_messages_created on conversation_messages (tenant_id, created_at)`.execute(db);
  await sql`create index conversation_messages_search on conversation_messages using gin (search)`.execute(db);

  for (const table of ["conversations", "conversation_messages"]) {
    const t = sql.table(table);
    await sql`alter table ${t} owner to konstruct_owner`.execute(db);
    await sql`alter table ${t} enable row level security`.execute(db);
    await sql`alter table ${t} force row level security`.execute(db);
    await sql`
      create policy app_tenant_isolation on ${t} as permissive for all to konstruct_app
      using (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)
      with check (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)`.execute(db);
    await sql`
      create policy tenant_role_isolation on ${t} as permissive for select to konstruct_tenant
      using (tenant_id = konstruct_session_tenant())`.execute(db);
    await sql`grant select, insert, update, delete on ${t} to konstruct_app`.execute(db);
    await sql`grant select on ${t} to konstruct_tenant`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists conversation_messages`.execute(db);
  await sql`drop table if exists conversations`.execute(db);
  await sql`alter table tenants drop column if exists history_retention_days`.execute(db);
}
