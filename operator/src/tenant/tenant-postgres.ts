import { HISTORY_RETENTION_DAYS, TENANT_LIMIT_DEFAULTS } from "../api/defaults.ts";
import type { Tenant } from "../api/tenant.ts";
import { jsonEqual, type Outcome, ok } from "../conditions.ts";
import { ProvisionError, SpecConflictError } from "../errors.ts";
import type { RoleLimits, TenantRow } from "../ports.ts";
import { generatePassword, scramVerifier, verifierMatches } from "./passwords.ts";
import { DATABASE_SECRET, MANAGED_BY, type TenantDeps, type TenantNames } from "./tenant-context.ts";

/**
 * What bounds each tenant login role. The connection limit keeps one tenant's reports from
 * taking the server's connection slots; the timeouts end a runaway query and a transaction left
 * open (which would hold back vacuum and block migrations' DDL behind its locks). The role may
 * still `SET` a timeout in its own session (PostgreSQL lets any role change these), and may
 * `ALTER ROLE` its own defaults: every resync puts these back.
 */
export const TENANT_ROLE_LIMITS: RoleLimits = Object.freeze({
  connectionLimit: 5,
  settings: Object.freeze({ statement_timeout: "30s", idle_in_transaction_session_timeout: "60s" }),
});

/** The tenant row as the spec wants it. */
export function desiredTenantRow(tenant: Tenant, names: TenantNames): TenantRow {
  const limits = tenant.spec.limits;
  return {
    id: names.tenantId,
    name: tenant.metadata.name,
    displayName: tenant.spec.displayName,
    namespace: names.namespace,
    messagesPerMinute: limits?.messagesPerMinute ?? TENANT_LIMIT_DEFAULTS.messagesPerMinute,
    maxConcurrentRuns: limits?.maxConcurrentRuns ?? TENANT_LIMIT_DEFAULTS.maxConcurrentRuns,
    tokensPerDay: limits?.tokensPerDay ?? TENANT_LIMIT_DEFAULTS.tokensPerDay,
    historyRetentionDays: tenant.spec.history?.retentionDays ?? HISTORY_RETENTION_DAYS.default,
  };
}

/** The tenant row (stable id), upserted only when it differs. */
export async function ensureTenantRow(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<void> {
  const desired = desiredTenantRow(tenant, names);
  const row = await deps.rows.get(names.tenantId);
  if (row === null) {
    const holder = await deps.rows.idByName(desired.name);
    if (holder !== null) {
      throw new SpecConflictError(
        "TenantNameTaken",
        `a tenant row named ${desired.name} with id ${holder} exists (kept by reclaimPolicy Retain?); ` +
          `set spec.tenantId: ${holder} to adopt it, or delete that row`,
      );
    }
    await deps.rows.insert(desired);
  } else if (!jsonEqual(row, desired)) {
    await deps.rows.update(desired);
  }
}

/**
 * The tenant's PostgreSQL login role in `konstruct_tenant`, mapped to the tenant in
 * tenant_roles, and its credentials in the tenant namespace. The password lives only in the
 * Secret; PostgreSQL gets its SCRAM verifier. Every write happens only after a read shows it
 * is needed, so a resync of a healthy tenant writes nothing.
 */
export async function ensureTenantDatabase(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  await ensureTenantRow(tenant, names, deps);

  const secret = await deps.kube.getSecret(names.namespace, DATABASE_SECRET);
  const known = secret?.password;
  const password = known && known.length >= 16 ? known : generatePassword();
  const role = await deps.roles.get(names.role);
  try {
    if (role === null) {
      await deps.roles.create(names.role, await scramVerifier(password), names.tenantId, TENANT_ROLE_LIMITS);
      deps.log.info({ tenantId: names.tenantId, role: names.role }, "created tenant database role");
    } else {
      // A password we did not know (Secret lost) or a verifier that no longer matches (changed by hand) is reset.
      const stale = password !== known || (role.verifier !== null && !(await verifierMatches(role.verifier, password)));
      const drifted = !role.canLogin || !role.inTenantGroup || !jsonEqual(role.limits, TENANT_ROLE_LIMITS);
      if (stale || drifted || role.mappedTenantId !== names.tenantId) {
        await deps.roles.update(names.role, names.tenantId, stale ? await scramVerifier(password) : null, TENANT_ROLE_LIMITS);
        deps.log.info({ tenantId: names.tenantId, role: names.role }, "repaired tenant database role");
      }
    }
  } catch (cause) {
    throw new ProvisionError("RoleFailed", `while provisioning PostgreSQL role ${names.role}`, { cause });
  }

  const { postgresHost: host, postgresPort: port, postgresDatabase: database } = deps.endpoints;
  const data = {
    host,
    port: String(port),
    database,
    user: names.role,
    password,
    url: `postgresql://${names.role}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(database)}`,
    tenantId: names.tenantId,
  };
  if (secret === null || !jsonEqual(secret, data)) {
    await deps.kube.applySecret(names.namespace, DATABASE_SECRET, data, {
      ...MANAGED_BY,
      "konstruct.io/tenant-id": names.tenantId,
    });
  }
  return ok("RoleReady", `role ${names.role}; credentials in Secret ${DATABASE_SECRET}`);
}
