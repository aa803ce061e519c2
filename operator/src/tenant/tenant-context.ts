import type { SecretKey } from "@konstruct/core/crypto";
import type { Logger } from "@konstruct/core/logger";
import type { Tenant } from "../api/tenant.ts";
import type {
  ChannelStore,
  KubernetesPort,
  OwnerInvitations,
  PostgresRoles,
  RedisAcl,
  TenantCatalog,
  TenantOwners,
  TenantRows,
} from "../ports.ts";

/** Where tenants reach PostgreSQL and Redis: written into their Secrets (may differ from the admin URLs). */
export interface TenantEndpoints {
  postgresHost: string;
  postgresPort: number;
  postgresDatabase: string;
  redisHost: string;
  redisPort: number;
}

/** What the operator needs to know of the portal: where its links point, and which ServiceAccount impersonates. */
export interface PortalSettings {
  /** PORTAL_PUBLIC_URL: invitation links are `<publicUrl>/portal/invitations/<token>`. */
  publicUrl: string;
  /** The portal's ServiceAccount (PORTAL_SERVICE_ACCOUNT in INSTALL_NAMESPACE). */
  serviceAccount: { namespace: string; name: string };
}

/**
 * What the operator needs to register connections with their channels' services (a channel's
 * `connect`/`disconnect`, e.g. Telegram's setWebhook).
 */
export interface ChannelServices {
  /** Where the platform's gateway is reachable publicly (`https://konstruct.example.com`); null: register nothing. */
  publicBaseUrl: string | null;
  /** API base URLs by channel type, overriding each channel's default (tests point them at doubles). */
  apiUrls: Readonly<Record<string, string>>;
}

/** Everything a Tenant reconcile needs, as ports. */
export interface TenantDeps {
  kube: KubernetesPort;
  roles: PostgresRoles;
  rows: TenantRows;
  acl: RedisAcl;
  channels: ChannelStore;
  owners: TenantOwners;
  /** portal_invitations for `spec.owners`. */
  invitations: OwnerInvitations;
  portal: PortalSettings;
  /** Every Tenant, to refuse a claim on another live Tenant's id. */
  tenants: TenantCatalog;
  /** The operator's own namespace: never a tenant's. */
  installNamespace: string;
  secretKey: SecretKey;
  endpoints: TenantEndpoints;
  /** Absent: no channel is registered with its service (the local file driver, unit tests). */
  channelServices?: ChannelServices;
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
/** The Tenant (by name) a namespace is for: set by the operator on what it creates, or by an admin to hand a namespace over. */
export const TENANT_LABEL = "konstruct.io/tenant";
/** The Tenant (by uid) that created or adopted a namespace: only that Tenant's deletion may delete it. */
export const TENANT_UID_LABEL = "konstruct.io/tenant-uid";
/** The tenant id whose data a namespace holds (kept after a Retain, for the Tenant that adopts that id). */
export const TENANT_ID_LABEL = "konstruct.io/tenant-id";

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
  return { ...MANAGED_BY, [TENANT_LABEL]: tenant.metadata.name, [TENANT_ID_LABEL]: names.tenantId };
}
