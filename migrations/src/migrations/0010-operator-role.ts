import { type Kysely, sql } from "kysely";

/**
 * `konstruct_operator`: the operator's login role, so the in-cluster operator no longer connects
 * as the PostgreSQL superuser. Its password is set by the migrate command from
 * DATABASE_OPERATOR_URL, as konstruct_app's is from DATABASE_URL.
 *
 * What it may do, and nothing else:
 * - read and write the rows it provisions — tenants, agents, channel_connections (and, when a
 *   tenant is deleted, their cascade) — and tenant_owners. The tenant tables are under FORCE RLS;
 *   the role gets a policy of its own on each (`operator_all`) rather than BYPASSRLS: its reach
 *   then sits beside every other role's in pg_policies, and a table given no policy for it stays
 *   closed to it whatever is granted later, where BYPASSRLS would open any table a grant touches.
 * - manage the per-tenant login roles (`konstruct_t_<32 hex>`) through three security-definer
 *   functions that accept only that name shape, a SCRAM verifier, and the two session settings
 *   the operator bounds, and read a tenant role's state — including its verifier, for the
 *   password drift check — through one of them instead of pg_authid.
 *
 * It is NOCREATEROLE. PostgreSQL 15 — the server here and in the offline kind images — lets a
 * CREATEROLE role alter or drop any role that is not a superuser and grant membership in it:
 * konstruct_app's password, konstruct_owner (which owns the tables). PostgreSQL 16 confines
 * CREATEROLE to roles the holder has ADMIN OPTION on, but 15 does not, so the functions are the
 * one way that is least privilege on every supported server.
 */

const ROLE_PATTERN = "^konstruct_t_[0-9a-f]{32}$";
const VERIFIER_PATTERN = "^SCRAM-SHA-256\\$[0-9]+:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$";
const PROVISIONED = ["tenants", "agents", "channel_connections"] as const;
// Deleting a tenant cascades to these; the policy lets the operator's delete reach them.
const CASCADED = ["portal_users", "token_usage"] as const;

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `do $$ begin
         if not exists (select 1 from pg_roles where rolname = 'konstruct_operator') then
           create role konstruct_operator nologin nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
         end if;
       exception when duplicate_object or unique_violation then null;
       end $$`,
    )
    .execute(db);
  // A role that pre-existed with more than this is corrected, not trusted.
  await sql
    .raw(
      `do $$ begin
         if exists (select 1 from pg_roles where rolname = 'konstruct_operator'
                    and (rolsuper or rolbypassrls or rolcreaterole or rolcreatedb or rolreplication)) then
           alter role konstruct_operator nosuperuser nobypassrls nocreaterole nocreatedb noreplication;
         end if;
       end $$`,
    )
    .execute(db);
  const { rows } = await sql<{ db: string }>`select current_database() as db`.execute(db);
  await sql`grant connect on database ${sql.id(rows[0]?.db as string)} to konstruct_operator`.execute(db);
  await sql`grant usage on schema public to konstruct_operator`.execute(db);

  for (const table of [...PROVISIONED, ...CASCADED]) {
    await sql`
      create policy operator_all on ${sql.table(table)} as permissive for all to konstruct_operator
      using (true) with check (true)`.execute(db);
  }
  await sql`grant select, insert, update, delete on tenants, agents, channel_connections to konstruct_operator`.execute(db);
  await sql`grant select, delete on portal_users, token_usage to konstruct_operator`.execute(db);
  await sql`grant select, insert, update, delete on tenant_owners to konstruct_operator`.execute(db);

  await sql
    .raw(
      `create function konstruct_check_tenant_role(p_role text) returns void
       language plpgsql immutable set search_path = pg_catalog
       as $$ begin
         if p_role is null or p_role !~ '${ROLE_PATTERN}' then
           raise exception 'refusing to manage role %: not a konstruct tenant role', p_role using errcode = '42501';
         end if;
       end $$`,
    )
    .execute(db);

  // The verifier comes from pg_authid, which only a superuser reads; a migrator that is not one
  // (a managed server's admin) leaves it null, and the operator then checks passwords by the
  // Secret alone, as before.
  await sql`
    create function konstruct_tenant_role_state(p_role text)
    returns table (canlogin boolean, member boolean, tenant_id uuid, connlimit integer, config text[], verifier text)
    language plpgsql stable security definer set search_path = pg_catalog, public
    as $$
    declare
      stored text;
    begin
      perform public.konstruct_check_tenant_role(p_role);
      begin
        select a.rolpassword into stored from pg_authid a where a.rolname = p_role;
      exception when insufficient_privilege then
        stored := null;
      end;
      return query
        select r.rolcanlogin,
               exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
                       where m.member = r.oid and g.rolname = 'konstruct_tenant'),
               (select t.tenant_id from public.tenant_roles t where t.role_name = r.rolname),
               r.rolconnlimit, r.rolconfig, stored
        from pg_roles r where r.rolname = p_role;
    end $$`.execute(db);

  // Creates the role, or puts it back as wanted: login, only konstruct_tenant, the connection
  // limit and the session settings (after dropping whatever the role set for itself), the
  // verifier when one is given, and its tenant in tenant_roles.
  await sql
    .raw(
      `create function konstruct_tenant_role_ensure(
         p_role text, p_verifier text, p_tenant uuid, p_connection_limit integer, p_settings jsonb)
       returns void
       language plpgsql security definer set search_path = pg_catalog, public
       as $$
       declare
         setting record;
       begin
         perform public.konstruct_check_tenant_role(p_role);
         if p_verifier is not null and p_verifier !~ '${VERIFIER_PATTERN}' then
           raise exception 'malformed SCRAM verifier' using errcode = '22023';
         end if;
         if p_connection_limit is null or p_connection_limit < 1 or p_connection_limit > 100 then
           raise exception 'connection limit % out of range', p_connection_limit using errcode = '22023';
         end if;
         if not exists (select 1 from pg_roles where rolname = p_role) then
           if p_verifier is null then
             raise exception 'a new role needs a verifier' using errcode = '22023';
           end if;
           execute format('create role %I login nosuperuser nobypassrls nocreatedb nocreaterole inherit in role konstruct_tenant password %L',
                          p_role, p_verifier);
         else
           execute format('alter role %I login nosuperuser nobypassrls nocreatedb nocreaterole inherit', p_role);
           if p_verifier is not null then
             execute format('alter role %I password %L', p_role, p_verifier);
           end if;
           execute format('alter role %I reset all', p_role);
           execute format('grant konstruct_tenant to %I', p_role);
         end if;
         execute format('alter role %I connection limit %s', p_role, p_connection_limit);
         for setting in select key, value from jsonb_each_text(coalesce(p_settings, '{}'::jsonb)) loop
           if setting.key not in ('statement_timeout', 'idle_in_transaction_session_timeout')
              or setting.value !~ '^[0-9]+(ms|s|min)?$' then
             raise exception 'role setting % is not one the operator bounds', setting.key using errcode = '22023';
           end if;
           execute format('alter role %I set %I = %L', p_role, setting.key, setting.value);
         end loop;
         insert into public.tenant_roles (role_name, tenant_id) values (p_role, p_tenant)
           on conflict (role_name) do update set tenant_id = excluded.tenant_id;
       end $$`,
    )
    .execute(db);

  await sql`
    create function konstruct_tenant_role_drop(p_role text) returns void
    language plpgsql security definer set search_path = pg_catalog, public
    as $$ begin
      perform public.konstruct_check_tenant_role(p_role);
      delete from public.tenant_roles where role_name = p_role;
      -- Open sessions keep their privileges until they end; end them with the role.
      perform pg_terminate_backend(pid) from pg_stat_activity where usename = p_role;
      execute format('drop role if exists %I', p_role);
    end $$`.execute(db);

  for (const fn of [
    "konstruct_check_tenant_role(text)",
    "konstruct_tenant_role_state(text)",
    "konstruct_tenant_role_ensure(text, text, uuid, integer, jsonb)",
    "konstruct_tenant_role_drop(text)",
  ]) {
    await sql.raw(`revoke all on function ${fn} from public`).execute(db);
    await sql.raw(`grant execute on function ${fn} to konstruct_operator`).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const fn of [
    "konstruct_tenant_role_drop(text)",
    "konstruct_tenant_role_ensure(text, text, uuid, integer, jsonb)",
    "konstruct_tenant_role_state(text)",
    "konstruct_check_tenant_role(text)",
  ]) {
    await sql.raw(`drop function if exists ${fn}`).execute(db);
  }
  for (const table of [...PROVISIONED, ...CASCADED]) {
    await sql`drop policy if exists operator_all on ${sql.table(table)}`.execute(db);
  }
  await sql`revoke all on tenants, agents, channel_connections, portal_users, token_usage, tenant_owners from konstruct_operator`.execute(
    db,
  );
  // The role is shared by every database of the server; it stays.
}
