import type { Logger, SecretKey } from "@konstruct/core";
import type { Tenant } from "../api/tenant.ts";
import type { ChannelStore, KubernetesPort, PostgresRoles, RedisAcl, TenantRows } from "../ports.ts";

/** Where tenants reach PostgreSQL and Redis: written into their Secrets (may differ from the admin URLs). */
export interface TenantEndpoints {
  postgresHost: string;
  postgresPort: number;
  postgresDatabase: string;
  redisHost: string;
  redisPort: number;
}

/** Everything a Tenant reconcile needs, as ports. */
export interface TenantDeps {
  kube: KubernetesPort;
  roles: PostgresRoles;
  rows: TenantRows;
  acl: RedisAcl;
  channels: ChannelStore;
  secretKey: SecretKey;
  endpoints: TenantEndpoints;
  log: Logger;
}

/** Names derived from a Tenant, computed once per reconcile. */
export interface TenantNames {
  tenantId: string;
  namespace: string;
  /** PostgreSQL login role. */
  role: string;
  /** Redis ACL user. */
  aclUser: string;
}

export const DATABASE_SECRET = "konstruct-database";
export const REDIS_SECRET = "konstruct-redis";
export const TENANT_FINALIZER = "konstruct.io/tenant-cleanup";
export const MANAGED_BY = { "app.kubernetes.io/managed-by": "konstruct-operator" } as const;

/** The ids and names a Tenant's dependencies go by. */
export function tenantNames(tenant: Tenant): TenantNames {
  const tenantId = tenant.spec.tenantId ?? tenant.status?.tenantId ?? tenant.metadata.uid;
  if (tenantId === undefined)
    throw new Error(`Tenant ${tenant.metadata.name} has no metadata.uid; was it read from the API server?`);
  return {
    tenantId,
    namespace: tenant.spec.namespace ?? tenant.status?.namespace ?? `konstruct-${tenant.metadata.name}`,
    // PostgreSQL folds unquoted names to lower case and caps them at 63 bytes: 12 + 32 fits.
    role: `konstruct_t_${tenantId.replaceAll("-", "")}`,
    aclUser: `konstruct-t-${tenantId}`,
  };
}

/** Labels on everything the operator creates for a tenant. */
export function tenantLabels(tenant: Tenant, names: TenantNames): Record<string, string> {
  return { ...MANAGED_BY, "konstruct.io/tenant": tenant.metadata.name, "konstruct.io/tenant-id": names.tenantId };
}
