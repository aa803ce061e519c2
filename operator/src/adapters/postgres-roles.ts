import type { Database } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import type { PostgresRoles, RoleLimits, RoleState } from "../ports.ts";

const ROLE_NAME = /^konstruct_t_[0-9a-f]{32}$/;

function checkRole(role: string): string {
  // Role names go into DDL, which takes no bind parameters: only our own shape is accepted.
  if (!ROLE_NAME.test(role)) throw new Error(`refusing to manage role ${JSON.stringify(role)}: not a konstruct tenant role`);
  return role;
}

function checkVerifier(verifier: string): string {
  if (!/^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/.test(verifier))
    throw new Error("malformed SCRAM verifier");
  return verifier;
}

const SETTING_NAME = /^[a-z_]+$/;
const SETTING_VALUE = /^[A-Za-z0-9_.]+$/;

/**
 * `CONNECTION LIMIT n SET name = 'value' …` for DDL, which takes no bind parameters: only plain
 * names and values are accepted, so nothing a caller passes can end the statement.
 */
function limitsClauses(role: string, limits: RoleLimits): string[] {
  if (!Number.isInteger(limits.connectionLimit) || limits.connectionLimit < -1) throw new Error("malformed connection limit");
  const statements = [`alter role ${role} connection limit ${limits.connectionLimit}`];
  for (const [name, value] of Object.entries(limits.settings)) {
    if (!SETTING_NAME.test(name) || !SETTING_VALUE.test(value)) throw new Error(`malformed role setting ${name}`);
    statements.push(`alter role ${role} set ${name} = '${value}'`);
  }
  return statements;
}

/** Reads `rolconfig` (`{name=value,…}`) into a record. */
function parseRoleConfig(config: string[] | null): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const entry of config ?? []) {
    const at = entry.indexOf("=");
    settings[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return settings;
}

/** Per-tenant login roles over the admin connection (which needs CREATEROLE, or superuser to read verifiers). */
export function createPostgresRoles(db: Kysely<Database>): PostgresRoles {
  let verifiersReadable = true;
  return {
    async get(role) {
      checkRole(role);
      const { rows } = await sql<{
        canlogin: boolean;
        member: boolean;
        tenant_id: string | null;
        connlimit: number;
        config: string[] | null;
      }>`
        select r.rolcanlogin as canlogin, r.rolconnlimit as connlimit, r.rolconfig as config,
               exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
                       where m.member = r.oid and g.rolname = 'konstruct_tenant') as member,
               (select tenant_id::text from tenant_roles where role_name = r.rolname) as tenant_id
        from pg_roles r where r.rolname = ${role}`.execute(db);
      const row = rows[0];
      if (row === undefined) return null;
      let verifier: string | null = null;
      if (verifiersReadable) {
        try {
          const v = await sql<{ rolpassword: string | null }>`select rolpassword from pg_authid where rolname = ${role}`.execute(
            db,
          );
          verifier = v.rows[0]?.rolpassword ?? null;
        } catch {
          verifiersReadable = false; // not a superuser: passwords are checked by presence of the Secret only
        }
      }
      const state: RoleState = {
        canLogin: row.canlogin,
        inTenantGroup: row.member,
        mappedTenantId: row.tenant_id,
        verifier,
        limits: { connectionLimit: row.connlimit, settings: parseRoleConfig(row.config) },
      };
      return state;
    },
    async create(role, verifier, tenantId, limits) {
      checkRole(role);
      const bounds = limitsClauses(role, limits);
      await db.transaction().execute(async (trx) => {
        await sql
          .raw(
            `create role ${role} login nosuperuser nobypassrls nocreatedb nocreaterole inherit ` +
              `in role konstruct_tenant password '${checkVerifier(verifier)}'`,
          )
          .execute(trx);
        for (const statement of bounds) await sql.raw(statement).execute(trx);
        await sql`insert into tenant_roles (role_name, tenant_id) values (${role}, ${tenantId})
                  on conflict (role_name) do update set tenant_id = excluded.tenant_id`.execute(trx);
      });
    },
    async update(role, tenantId, verifier, limits) {
      checkRole(role);
      const bounds = limitsClauses(role, limits);
      await db.transaction().execute(async (trx) => {
        const password = verifier === null ? "" : ` password '${checkVerifier(verifier)}'`;
        await sql.raw(`alter role ${role} login nosuperuser nobypassrls nocreatedb nocreaterole inherit${password}`).execute(trx);
        // An ordinary role may ALTER ROLE … SET its own defaults (statement_timeout = 0): drop
        // whatever it set, then put ours back.
        await sql.raw(`alter role ${role} reset all`).execute(trx);
        for (const statement of bounds) await sql.raw(statement).execute(trx);
        await sql.raw(`grant konstruct_tenant to ${role}`).execute(trx);
        await sql`insert into tenant_roles (role_name, tenant_id) values (${role}, ${tenantId})
                  on conflict (role_name) do update set tenant_id = excluded.tenant_id`.execute(trx);
      });
    },
    async drop(role) {
      checkRole(role);
      await sql`delete from tenant_roles where role_name = ${role}`.execute(db);
      // Open sessions keep their privileges until they end; end them with the role.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where usename = ${role}`.execute(db);
      await sql.raw(`drop role if exists ${role}`).execute(db);
    },
  };
}
