import type { Database } from "@konstruct/core/db/types";
import { type Kysely, sql } from "kysely";
import type { PostgresRoles, RoleLimits, RoleState } from "../ports.ts";

const ROLE_NAME = /^konstruct_t_[0-9a-f]{32}$/;

function checkRole(role: string): string {
  // Role names go into DDL, which takes no bind parameters: only our own shape is accepted.
  if (!ROLE_NAME.test(role)) throw new Error(`refusing to manage role ${JSON.stringify(role)}: not a konstruct tenant role`);
  return role;
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

/**
 * Per-tenant login roles, through the security-definer functions of migration 0010: the
 * operator's role (`konstruct_operator`) has no CREATEROLE and cannot read pg_authid, and the
 * functions accept only a tenant role's name shape, a SCRAM verifier and the bounded settings.
 * The same calls work over a superuser connection.
 */
export function createPostgresRoles(db: Kysely<Database>): PostgresRoles {
  const ensure = async (role: string, verifier: string | null, tenantId: string, limits: RoleLimits) => {
    checkRole(role);
    await sql`select konstruct_tenant_role_ensure(${role}, ${verifier}, ${tenantId}::uuid,
              ${limits.connectionLimit}::integer, ${JSON.stringify(limits.settings)}::jsonb)`.execute(db);
  };
  return {
    async get(role) {
      checkRole(role);
      const { rows } = await sql<{
        canlogin: boolean;
        member: boolean;
        tenant_id: string | null;
        connlimit: number;
        config: string[] | null;
        verifier: string | null;
      }>`select * from konstruct_tenant_role_state(${role})`.execute(db);
      const row = rows[0];
      if (row === undefined) return null;
      const state: RoleState = {
        canLogin: row.canlogin,
        inTenantGroup: row.member,
        mappedTenantId: row.tenant_id,
        // Null when the migrator could not read pg_authid: passwords are then checked by the Secret only.
        verifier: row.verifier,
        limits: { connectionLimit: row.connlimit, settings: parseRoleConfig(row.config) },
      };
      return state;
    },
    async create(role, verifier, tenantId, limits) {
      await ensure(role, verifier, tenantId, limits);
    },
    async update(role, tenantId, verifier, limits) {
      // An ordinary role may ALTER ROLE … SET its own defaults (statement_timeout = 0): the
      // function drops whatever it set, then puts ours back.
      await ensure(role, verifier, tenantId, limits);
    },
    async drop(role) {
      checkRole(role);
      await sql`select konstruct_tenant_role_drop(${role})`.execute(db);
    },
  };
}
