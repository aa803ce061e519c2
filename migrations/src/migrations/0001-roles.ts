import { type Kysely, sql } from "kysely";

/**
 * Roles are cluster-wide objects, so they may already exist (another database of the same
 * server, a re-created database). `CREATE ROLE` has no IF NOT EXISTS, and two migrators of two
 * databases can race between the check and the create, so each create also swallows the
 * duplicate error instead of trusting the check.
 *
 * - konstruct_owner: owns every table; NOLOGIN. FORCE ROW LEVEL SECURITY makes policies
 *   apply to it as well, so even the owner sees no tenant rows without a policy.
 * - konstruct_app: the shared services' login role (its password is set by the migrate
 *   command from DATABASE_URL); not superuser, no BYPASSRLS, owns nothing.
 * - konstruct_tenant: the group of per-tenant login roles the operator creates.
 */
export async function up(db: Kysely<any>): Promise<void> {
  for (const role of [
    "konstruct_owner nologin nosuperuser nobypassrls noinherit",
    "konstruct_app nologin nosuperuser nobypassrls nocreatedb nocreaterole",
    "konstruct_tenant nologin nosuperuser nobypassrls nocreatedb nocreaterole",
  ]) {
    const [name] = role.split(" ");
    await sql
      .raw(
        `do $$ begin
           if not exists (select 1 from pg_roles where rolname = '${name}') then
             create role ${role};
           end if;
         exception when duplicate_object or unique_violation then null;
         end $$`,
      )
      .execute(db);
  }
  // A role that pre-existed with dangerous attributes is corrected, not trusted. Each change is
  // conditional and runs in a DO block (its own subtransaction), because migrators of other
  // databases on the same server may touch the same shared role rows at the same moment.
  await sql
    .raw(
      `do $$ begin
         if exists (select 1 from pg_roles where rolname in ('konstruct_app', 'konstruct_tenant') and (rolsuper or rolbypassrls)) then
           alter role konstruct_app nosuperuser nobypassrls;
           alter role konstruct_tenant nosuperuser nobypassrls;
         end if;
         if not pg_has_role(current_user, 'konstruct_owner', 'member') then
           grant konstruct_owner to current_user;
         end if;
       end $$`,
    )
    .execute(db);
  const { rows } = await sql<{ db: string }>`select current_database() as db`.execute(db);
  const database = sql.id(rows[0]?.db as string);
  await sql`grant connect on database ${database} to konstruct_app, konstruct_tenant`.execute(db);
  await sql`grant usage on schema public to konstruct_app, konstruct_tenant`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Roles are shared by every database of the server: dropping them here could break
  // another installation, so `down` only revokes this database's grants.
  await sql`revoke usage on schema public from konstruct_app, konstruct_tenant`.execute(db);
}
