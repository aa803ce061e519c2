import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type { ChannelType } from "../message.ts";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** A column with a database default: optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

/** A customer. Tenant-scoped by its own `id`. */
export interface TenantsTable {
  id: string;
  /** The Tenant resource's name (cluster-scoped, unique). */
  name: string;
  display_name: string;
  namespace: string;
  messages_per_minute: Defaulted<number>;
  max_concurrent_runs: Defaulted<number>;
  tokens_per_day: Defaulted<number>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** An AI employee of a tenant. */
export interface AgentsTable {
  id: Generated<string>;
  tenant_id: string;
  /** The Agent resource's name, unique within the tenant. */
  name: string;
  display_name: string;
  role: Defaulted<string>;
  system_prompt: Defaulted<string>;
  model: string;
  fallback_models: Defaulted<string[]>;
  temperature: Defaulted<number>;
  max_history_messages: Defaulted<number>;
  is_default: Defaulted<boolean>;
  /** Names of the tenant's channels it serves; empty means all. */
  channels: Defaulted<string[]>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** A channel a tenant connected (a Slack app, a web chat). Credentials are encrypted. */
export interface ChannelConnectionsTable {
  id: Generated<string>;
  tenant_id: string;
  name: string;
  channel_type: ChannelType;
  /** The channel's own id: Slack team id, or the web chat's public id. */
  external_id: string;
  /** `encryptSecret` output of a JSON object, bound to the tenant id; null when none. */
  credentials: ColumnType<string | null, string | null | undefined, string | null>;
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** People who sign in to a tenant's portal. Email is unique across the installation. */
export interface PortalUsersTable {
  id: Generated<string>;
  tenant_id: string;
  email: string;
  password_hash: string;
  role: Defaulted<"owner" | "admin" | "member">;
  created_at: Generated<Date>;
}

/** LLM tokens used per tenant, agent and day. */
export interface TokenUsageTable {
  tenant_id: string;
  agent_id: string;
  day: ColumnType<string, string, string>;
  prompt_tokens: ColumnType<number, number | undefined, number>;
  completion_tokens: ColumnType<number, number | undefined, number>;
  runs: Defaulted<number>;
}

/** Maps each per-tenant login role to its tenant. Not reachable by the app or tenant roles. */
export interface TenantRolesTable {
  role_name: string;
  tenant_id: string;
  created_at: Generated<Date>;
}

/**
 * Which Tenant resource (by uid) holds a tenant id. Only the operator reads and writes it; no
 * foreign key, because the claim is recorded before the tenant row exists.
 */
export interface TenantOwnersTable {
  tenant_id: string;
  owner_uid: string;
  /** The Tenant's name, for messages. */
  owner_name: string;
  claimed_at: Timestamp;
}

/** The schema as service code sees it. */
export interface Database {
  tenants: TenantsTable;
  agents: AgentsTable;
  channel_connections: ChannelConnectionsTable;
  portal_users: PortalUsersTable;
  token_usage: TokenUsageTable;
  tenant_roles: TenantRolesTable;
  tenant_owners: TenantOwnersTable;
}

export type TenantRecord = Selectable<TenantsTable>;
export type NewTenant = Insertable<TenantsTable>;
export type AgentRecord = Selectable<AgentsTable>;
export type NewAgent = Insertable<AgentsTable>;
export type AgentUpdate = Updateable<AgentsTable>;
export type ChannelConnectionRecord = Selectable<ChannelConnectionsTable>;
export type NewChannelConnection = Insertable<ChannelConnectionsTable>;
export type PortalUserRecord = Selectable<PortalUsersTable>;

/** Tables guarded by row-level security; the isolation tests iterate over this list. */
export const TENANT_SCOPED_TABLES = ["tenants", "agents", "channel_connections", "portal_users", "token_usage"] as const;
