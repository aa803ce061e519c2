import { type Kysely, sql } from "kysely";

/** Tables guarded by row-level security, with the column that names their tenant. */
const TENANT_SCOPED: ReadonlyArray<[table: string, tenantColumn: string]> = [
  ["tenants", "id"],
  ["agents", "tenant_id"],
  ["channel_connections", "tenant_id"],
  ["portal_users", "tenant_id"],
  ["token_usage", "tenant_id"],
];

/**
 * The tenancy schema: tenants and what they own, each table under FORCE ROW LEVEL SECURITY
 * with two policies — one for the shared app role (tenant from the transaction-local
 * `app.current_tenant`), one for per-tenant login roles (tenant from `session_user` through
 * `tenant_roles`, so setting the GUC cannot switch tenants).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table tenants (
      id uuid primary key,
      name text not null unique check (name ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' and length(name) <= 63),
      display_name text not null,
      namespace text not null,
      messages_per_minute integer not null default 60 check (messages_per_minute > 0),
      max_concurrent_runs integer not null default 4 check (max_concurrent_runs > 0),
      tokens_per_day integer not null default 1000000 check (tokens_per_day > 0),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table agents (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      name text not null,
      display_name text not null,
      role text not null default '',
      system_prompt text not null default '',
      model text not null,
      fallback_models text[] not null default '{}',
      temperature real not null default 0.7 check (temperature >= 0 and temperature <= 2),
      max_history_messages integer not null default 20 check (max_history_messages between 0 and 1000),
      is_default boolean not null default false,
      channels text[] not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (tenant_id, name)
    )`.execute(db);
  // At most one default agent per tenant, enforced by the database, not by hope.
  await sql`create unique index agents_one_default_per_tenant on agents (tenant_id) where is_default`.execute(db);

  await sql`
    create table channel_connections (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      name text not null,
      channel_type text not null check (channel_type in ('slack', 'webchat')),
      external_id text not null check (length(external_id) between 1 and 256),
      credentials text,
      settings jsonb not null default '{}',
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (tenant_id, name),
      unique (channel_type, external_id)
    )`.execute(db);

  await sql`
    create table portal_users (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      email text not null check (email ~ '^[^@\\s]+@[^@\\s]+$'),
      password_hash text not null check (password_hash like '$argon2%'),
      role text not null default 'member' check (role in ('owner', 'admin', 'member')),
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create unique index portal_users_email_unique on portal_users (lower(email))`.execute(db);

  await sql`
    create table token_usage (
      tenant_id uuid not null references tenants (id) on delete cascade,
      agent_id uuid not null references agents (id) on delete cascade,
      day date not null,
      prompt_tokens bigint not null default 0,
      completion_tokens bigint not null default 0,
      runs integer not null default 0,
      primary key (tenant_id, agent_id, day)
    )`.execute(db);

  // Not tenant-scoped: the login-role → tenant map and the channel routing index. Neither the
  // app role nor tenant roles get privileges on them; they are read only through the
  // security-definer functions below.
  await sql`
    create table tenant_roles (
      role_name text primary key,
      tenant_id uuid not null references tenants (id) on delete cascade,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table channel_routes (
      connection_id uuid primary key,
      tenant_id uuid not null references tenants (id) on delete cascade,
      channel_type text not null,
      external_id text not null,
      unique (channel_type, external_id)
    )`.execute(db);

  await sql`
    create function konstruct_session_tenant() returns uuid
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select tenant_id from public.tenant_roles where role_name = session_user $$`.execute(db);

  // Routing happens before the tenant is known, so it cannot go through RLS; these functions
  // expose only ids, never credentials.
  await sql`
    create function konstruct_route_by_external_id(p_channel_type text, p_external_id text)
    returns table (connection_id uuid, tenant_id uuid, channel_type text, external_id text)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select connection_id, tenant_id, channel_type, external_id from public.channel_routes
          where channel_type = p_channel_type and external_id = p_external_id $$`.execute(db);
  await sql`
    create function konstruct_route_by_connection(p_connection_id uuid)
    returns table (connection_id uuid, tenant_id uuid, channel_type text, external_id text)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select connection_id, tenant_id, channel_type, external_id from public.channel_routes
          where connection_id = p_connection_id $$`.execute(db);

  // The routing index follows channel_connections through a trigger, so it cannot drift
  // from the rows that whoever writes connections (the operator) maintains.
  await sql`
    create function konstruct_sync_channel_route() returns trigger
    language plpgsql security definer set search_path = pg_catalog, public
    as $$
    begin
      if tg_op in ('UPDATE', 'DELETE') then
        delete from public.channel_routes where connection_id = old.id;
      end if;
      if tg_op in ('INSERT', 'UPDATE') then
        insert into public.channel_routes (connection_id, tenant_id, channel_type, external_id)
        values (new.id, new.tenant_id, new.channel_type, new.external_id);
      end if;
      return null;
    end $$`.execute(db);
  await sql`
    create trigger channel_connections_route
    after insert or update of tenant_id, channel_type, external_id or delete on channel_connections
    for each row execute function konstruct_sync_channel_route()`.execute(db);

  for (const [table, column] of TENANT_SCOPED) {
    const t = sql.table(table);
    const c = sql.ref(column);
    await sql`alter table ${t} enable row level security`.execute(db);
    await sql`alter table ${t} force row level security`.execute(db);
    // nullif: once a session has used the GUC, an unset value reads as '' rather than NULL.
    await sql`
      create policy app_tenant_isolation on ${t} as permissive for all to konstruct_app
      using (${c} = nullif(current_setting('app.current_tenant', true), '')::uuid)
      with check (${c} = nullif(current_setting('app.current_tenant', true), '')::uuid)`.execute(db);
    await sql`
      create policy tenant_role_isolation on ${t} as permissive for all to konstruct_tenant
      using (${c} = konstruct_session_tenant())
      with check (${c} = konstruct_session_tenant())`.execute(db);
  }

  await sql`grant select on tenants to konstruct_app, konstruct_tenant`.execute(db);
  await sql`grant select, insert, update, delete on agents, channel_connections, portal_users, token_usage to konstruct_app, konstruct_tenant`.execute(
    db,
  );
  for (const fn of [
    "konstruct_session_tenant()",
    "konstruct_route_by_external_id(text, text)",
    "konstruct_route_by_connection(uuid)",
    "konstruct_sync_channel_route()",
  ]) {
    await sql.raw(`revoke all on function ${fn} from public`).execute(db);
  }
  await sql`grant execute on function konstruct_session_tenant() to konstruct_tenant, konstruct_app`.execute(db);
  await sql`grant execute on function konstruct_route_by_external_id(text, text), konstruct_route_by_connection(uuid) to konstruct_app`.execute(
    db,
  );

  // Everything is owned by konstruct_owner (not by the admin who ran this), so FORCE RLS binds
  // the owner too and the security-definer functions run with the owner's rights. The
  // routing tables have no RLS: the owner must read them on behalf of the functions above.
  for (const table of [
    "tenants",
    "agents",
    "channel_connections",
    "portal_users",
    "token_usage",
    "tenant_roles",
    "channel_routes",
  ]) {
    await sql`alter table ${sql.table(table)} owner to konstruct_owner`.execute(db);
  }
  for (const fn of [
    "konstruct_session_tenant()",
    "konstruct_route_by_external_id(text, text)",
    "konstruct_route_by_connection(uuid)",
    "konstruct_sync_channel_route()",
  ]) {
    await sql.raw(`alter function ${fn} owner to konstruct_owner`).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    "channel_routes",
    "tenant_roles",
    "token_usage",
    "portal_users",
    "channel_connections",
    "agents",
    "tenants",
  ]) {
    await sql`drop table if exists ${sql.table(table)} cascade`.execute(db);
  }
  for (const fn of [
    "konstruct_sync_channel_route()",
    "konstruct_route_by_connection(uuid)",
    "konstruct_route_by_external_id(text, text)",
    "konstruct_session_tenant()",
  ]) {
    await sql.raw(`drop function if exists ${fn}`).execute(db);
  }
}
