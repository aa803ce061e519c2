import { type Kysely, sql } from "kysely";

/**
 * The portal's own state: one-time invitations and sign-in sessions, both tenant-scoped under
 * FORCE RLS like every other tenant table.
 *
 * Secrets are stored as SHA-256 digests only (`token_hash`): the invitation token lives only in
 * the link handed to a person, the session token only in their cookie, so a database dump signs
 * nobody in. Before sign-in the tenant is not known, so three security-definer lookups find a
 * person by email, a session by token digest and an invitation by token digest, each returning
 * one row's tenant and what the portal needs of it; only the app role may call them.
 *
 * A tenant's login role reads its people's invitations and sessions (who was invited, who is
 * signed in from where) but never the digests: column grants, as in 0006.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table portal_users add column display_name text not null default '' check (length(display_name) <= 200)`.execute(
    db,
  );
  await sql`alter table portal_users add column password_changed_at timestamptz not null default now()`.execute(db);

  await sql`
    create table portal_invitations (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      email text not null check (email ~ '^[^@\\s]+@[^@\\s]+$' and length(email) <= 320),
      role text not null check (role in ('owner', 'admin', 'member')),
      token_hash bytea not null unique check (length(token_hash) = 32),
      -- null when the invitation comes from the Tenant resource (spec.owners, via the operator)
      invited_by uuid references portal_users (id) on delete set null,
      expires_at timestamptz not null,
      accepted_at timestamptz,
      accepted_by uuid references portal_users (id) on delete set null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index portal_invitations_tenant on portal_invitations (tenant_id, created_at desc)`.execute(db);

  await sql`
    create table portal_sessions (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references tenants (id) on delete cascade,
      user_id uuid not null references portal_users (id) on delete cascade,
      token_hash bytea not null unique check (length(token_hash) = 32),
      csrf_token text not null check (length(csrf_token) between 32 and 128),
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      expires_at timestamptz not null,
      user_agent text not null default '' check (length(user_agent) <= 512),
      address text not null default '' check (length(address) <= 64)
    )`.execute(db);
  await sql`create index portal_sessions_user on portal_sessions (tenant_id, user_id)`.execute(db);
  await sql`create index portal_sessions_expiry on portal_sessions (expires_at)`.execute(db);

  for (const table of ["portal_invitations", "portal_sessions"]) {
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
  }
  await sql`grant select (id, tenant_id, email, role, invited_by, expires_at, accepted_at, accepted_by, created_at)
            on portal_invitations to konstruct_tenant`.execute(db);
  await sql`grant select (id, tenant_id, user_id, created_at, last_seen_at, expires_at, user_agent, address)
            on portal_sessions to konstruct_tenant`.execute(db);
  await sql`grant select (display_name, password_changed_at) on portal_users to konstruct_tenant`.execute(db);

  // The lookups run as konstruct_owner, which FORCE RLS binds like everyone else: it gets a
  // read-only policy on exactly these three tables. konstruct_owner cannot log in; only the
  // migrating administrator is a member.
  for (const table of ["portal_users", "portal_invitations", "portal_sessions"]) {
    await sql`create policy owner_portal_lookup on ${sql.table(table)} as permissive for select to konstruct_owner using (true)`.execute(
      db,
    );
  }
  await sql`
    create function konstruct_portal_user_by_email(p_email text)
    returns table (user_id uuid, tenant_id uuid, password_hash text, role text)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select id, tenant_id, password_hash, role from public.portal_users where lower(email) = lower(p_email) $$`.execute(db);
  await sql`
    create function konstruct_portal_session(p_token_hash bytea)
    returns table (session_id uuid, tenant_id uuid, user_id uuid, expires_at timestamptz)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select id, tenant_id, user_id, expires_at from public.portal_sessions where token_hash = p_token_hash $$`.execute(db);
  await sql`
    create function konstruct_portal_invitation(p_token_hash bytea)
    returns table (invitation_id uuid, tenant_id uuid, email text, role text, expires_at timestamptz, accepted_at timestamptz)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select id, tenant_id, email, role, expires_at, accepted_at from public.portal_invitations where token_hash = p_token_hash $$`.execute(
    db,
  );
  for (const fn of [
    "konstruct_portal_user_by_email(text)",
    "konstruct_portal_session(bytea)",
    "konstruct_portal_invitation(bytea)",
  ]) {
    await sql.raw(`alter function ${fn} owner to konstruct_owner`).execute(db);
    await sql.raw(`revoke all on function ${fn} from public`).execute(db);
    await sql.raw(`grant execute on function ${fn} to konstruct_app`).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const fn of [
    "konstruct_portal_user_by_email(text)",
    "konstruct_portal_session(bytea)",
    "konstruct_portal_invitation(bytea)",
  ]) {
    await sql.raw(`drop function if exists ${fn}`).execute(db);
  }
  await sql`drop policy if exists owner_portal_lookup on portal_users`.execute(db);
  await sql`drop table if exists portal_sessions`.execute(db);
  await sql`drop table if exists portal_invitations`.execute(db);
  await sql`alter table portal_users drop column if exists password_changed_at, drop column if exists display_name`.execute(db);
}
