import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";
import type { ChannelType } from "../message.ts";
import type { PORTAL_ROLES } from "../portal-tokens.ts";

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
  /** Days of conversation history kept before the purge deletes it. */
  history_retention_days: Defaulted<number>;
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
  role: Defaulted<PortalRole>;
  display_name: Defaulted<string>;
  password_changed_at: Defaulted<Date>;
  created_at: Generated<Date>;
}

/** A portal user's role, one of {@link PORTAL_ROLES}. */
export type PortalRole = (typeof PORTAL_ROLES)[number];

/** A one-time link for a person to join a tenant's portal. Only the token's SHA-256 is kept. */
export interface PortalInvitationsTable {
  id: Generated<string>;
  tenant_id: string;
  email: string;
  role: PortalRole;
  token_hash: Buffer;
  /** Null when the invitation comes from the Tenant resource (spec.owners). */
  invited_by: ColumnType<string | null, string | null | undefined, string | null>;
  expires_at: Timestamp;
  accepted_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  accepted_by: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Generated<Date>;
}

/** A signed-in browser. Only the cookie token's SHA-256 is kept. */
export interface PortalSessionsTable {
  id: Generated<string>;
  tenant_id: string;
  user_id: string;
  token_hash: Buffer;
  csrf_token: string;
  created_at: Generated<Date>;
  last_seen_at: Defaulted<Date>;
  expires_at: Timestamp;
  user_agent: Defaulted<string>;
  address: Defaulted<string>;
}

/** One thread of a channel, with the counters a list page needs. */
export interface ConversationsTable {
  id: Generated<string>;
  tenant_id: string;
  channel_type: string;
  /** The tenant's name for the channel connection. */
  connection_name: Defaulted<string>;
  /** The channel's own identity of the thread (e.g. Slack workspace/channel/thread ts). */
  thread_key: string;
  agent_id: ColumnType<string | null, string | null | undefined, string | null>;
  subject: Defaulted<string>;
  started_at: Timestamp;
  last_message_at: Timestamp;
  message_count: Defaulted<number>;
}

/** One inbound message or reply; `message_key` makes writing it idempotent. */
export interface ConversationMessagesTable {
  id: Generated<string>;
  tenant_id: string;
  conversation_id: string;
  message_key: string;
  direction: "inbound" | "reply";
  sender_id: Defaulted<string>;
  sender_name: ColumnType<string | null, string | null | undefined, string | null>;
  agent_id: ColumnType<string | null, string | null | undefined, string | null>;
  agent_name: ColumnType<string | null, string | null | undefined, string | null>;
  model: ColumnType<string | null, string | null | undefined, string | null>;
  prompt_tokens: ColumnType<number | null, number | null | undefined, number | null>;
  completion_tokens: ColumnType<number | null, number | null | undefined, number | null>;
  latency_ms: ColumnType<number | null, number | null | undefined, number | null>;
  text: string;
  created_at: Timestamp;
  /** Generated full-text vector; never written. */
  search: ColumnType<string, never, never>;
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

/** Messages per tenant, UTC day and agent, counted as the history is written (migration 0014). */
export interface ConversationDailyCountsTable {
  tenant_id: string;
  day: ColumnType<string, string, string>;
  /** The all-zero id for messages of no agent. */
  agent_id: string;
  agent_name: string | null;
  messages: ColumnType<string, number | undefined, number>;
}

/** Per channel connection: the last inbound event accepted and the last delivery error (migration 0017). */
export interface ChannelActivityTable {
  connection_id: string;
  tenant_id: string;
  last_event_at: Timestamp | null;
  last_error: string | null;
  last_error_at: Timestamp | null;
}

/** The schema as service code sees it. */
export interface Database {
  tenants: TenantsTable;
  agents: AgentsTable;
  channel_connections: ChannelConnectionsTable;
  portal_users: PortalUsersTable;
  portal_invitations: PortalInvitationsTable;
  portal_sessions: PortalSessionsTable;
  conversations: ConversationsTable;
  conversation_messages: ConversationMessagesTable;
  conversation_daily_counts: ConversationDailyCountsTable;
  channel_activity: ChannelActivityTable;
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
export const TENANT_SCOPED_TABLES = [
  "tenants",
  "agents",
  "channel_connections",
  "portal_users",
  "portal_invitations",
  "portal_sessions",
  "token_usage",
  "conversations",
  "conversation_messages",
  "conversation_daily_counts",
  "channel_activity",
] as const;
