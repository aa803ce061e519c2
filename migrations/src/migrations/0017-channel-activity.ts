import { type Kysely, sql } from "kysely";

/**
 * `channel_activity`: per channel connection, when the platform last accepted an inbound event
 * (the router, once it knows the tenant) and the last error a reply's delivery met (the gateway's
 * reply protocol: a Slack `invalid_auth`, a Telegram refusal), for the portal's channels page.
 *
 * Written at most once per connection every few seconds by each process (the services throttle
 * in memory, `createChannelActivity`), never once per message. Tenant-scoped under FORCE RLS like
 * the rest; the tenant's own login role reads its rows and writes none. The key is the
 * connection, and a deleted connection takes its row with it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table channel_activity (
      connection_id uuid primary key references channel_connections (id) on delete cascade,
      tenant_id uuid not null references tenants (id) on delete cascade,
      last_event_at timestamptz,
      last_error text check (length(last_error) <= 500),
      last_error_at timestamptz
    )`.execute(db);
  await sql`alter table channel_activity owner to konstruct_owner`.execute(db);
  await sql`alter table channel_activity enable row level security`.execute(db);
  await sql`alter table channel_activity force row level security`.execute(db);
  await sql`
    create policy app_tenant_isolation on channel_activity as permissive for all to konstruct_app
    using (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.current_tenant', true), '')::uuid)`.execute(db);
  await sql`
    create policy tenant_role_isolation on channel_activity as permissive for select to konstruct_tenant
    using (tenant_id = konstruct_session_tenant())`.execute(db);
  await sql`grant select, insert, update on channel_activity to konstruct_app`.execute(db);
  await sql`grant select on channel_activity to konstruct_tenant`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop table if exists channel_activity`.execute(db);
}
