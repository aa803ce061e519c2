import type { Agent } from "./api/agent.ts";
import type { PolicyRule } from "./api/rbac.ts";
import type { Tenant } from "./api/tenant.ts";

/**
 * The narrow ports the reconcile functions work through. Real implementations talk to the
 * Kubernetes API, PostgreSQL and Redis (src/kube, src/adapters); the local driver and unit
 * tests use in-memory ones. Every method is idempotent.
 */

/** A reference to a Konstruct object, enough to patch it or attach an Event. */
export interface ObjectRef {
  kind: "Tenant" | "Agent";
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

/** What the operator asks of Kubernetes. */
export interface KubernetesPort {
  /** A Secret's decoded data, or null when it does not exist. */
  getSecret(namespace: string, name: string): Promise<Record<string, string> | null>;
  /** Server-side applies a Secret the operator owns (owned by `owner` too, when given: deleted with it). */
  applySecret(
    namespace: string,
    name: string,
    data: Record<string, string>,
    labels: Record<string, string>,
    owner?: ObjectRef,
  ): Promise<void>;
  /** The labels of a namespace, or null when it does not exist; from a watch cache unless `fresh`. */
  getNamespaceLabels(name: string, read?: Read): Promise<Record<string, string> | null>;
  /** Creates a namespace; fails (409) when it exists, so one that appeared since it was checked is never taken over. */
  createNamespace(name: string, labels: Record<string, string>): Promise<void>;
  applyNamespace(name: string, labels: Record<string, string>): Promise<void>;
  deleteNamespace(name: string): Promise<void>;
  /** The subjects of a RoleBinding, or null when it does not exist. */
  getRoleBindingSubjects(namespace: string, name: string): Promise<RoleBindingSubject[] | null>;
  applyRoleBinding(namespace: string, name: string, clusterRole: string, subjects: RoleBindingSubject[]): Promise<void>;
  deleteRoleBinding(namespace: string, name: string): Promise<void>;
  /** A Role, ClusterRole, RoleBinding or ClusterRoleBinding as it exists, or null; from a watch cache unless `fresh`. */
  getRbac(kind: RbacKind, name: string, namespace?: string, read?: Read): Promise<RbacObject | null>;
  /** Server-side applies one; `owner` (a Tenant) makes it go with its Tenant where a garbage collector runs. */
  applyRbac(object: RbacObject, owner?: ObjectRef): Promise<void>;
  deleteRbac(kind: RbacKind, name: string, namespace?: string): Promise<void>;
  /** Replaces the finalizers, guarded by the object's resourceVersion. */
  setFinalizers(ref: ObjectRef, finalizers: string[]): Promise<void>;
  /** Writes the status subresource. */
  patchStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void>;
  recordEvent(ref: ObjectRef, type: "Normal" | "Warning", reason: string, message: string): Promise<void>;
}

/** How to read: `fresh` asks the API server itself, for a read that decides a deletion. */
export interface Read {
  fresh?: boolean;
}

export interface RoleBindingSubject {
  kind: "User" | "Group";
  name: string;
}

export type RbacKind = "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding";

/** What the operator reads and writes of an RBAC object: roles carry rules, bindings roleRef and subjects. */
export interface RbacObject {
  kind: RbacKind;
  name: string;
  /** Set for Role and RoleBinding. */
  namespace?: string;
  labels: Record<string, string>;
  rules?: PolicyRule[];
  roleRef?: { kind: "Role" | "ClusterRole"; name: string };
  subjects?: { kind: "User" | "Group" | "ServiceAccount"; name: string; namespace?: string }[];
}

/** A per-tenant PostgreSQL login role as it exists. */
export interface RoleState {
  canLogin: boolean;
  /** Member of konstruct_tenant, the group the RLS policies name. */
  inTenantGroup: boolean;
  /** The tenant the role maps to in tenant_roles, or null. */
  mappedTenantId: string | null;
  /** The stored SCRAM verifier, when the role that migrated may read pg_authid (superuser); null otherwise. */
  verifier: string | null;
  /** Its connection limit and per-role settings, as pg_roles holds them. */
  limits: RoleLimits;
}

/**
 * What bounds one tenant login: `rolconnlimit` and the `ALTER ROLE … SET` defaults. Settings
 * are per login role because PostgreSQL does not apply a group's settings to its members.
 */
export interface RoleLimits {
  connectionLimit: number;
  /** GUC name → value, as `rolconfig` stores it (`statement_timeout=30s`). */
  settings: Record<string, string>;
}

/** Per-tenant PostgreSQL login roles (CloudNativePG's RoleManager, narrowed). */
export interface PostgresRoles {
  get(role: string): Promise<RoleState | null>;
  /** Creates the role in konstruct_tenant with the given SCRAM verifier and limits, and maps it to the tenant. */
  create(role: string, verifier: string, tenantId: string, limits: RoleLimits): Promise<void>;
  /** Repairs login, group membership, limits (dropping any other setting) and mapping; sets the verifier when given. */
  update(role: string, tenantId: string, verifier: string | null, limits: RoleLimits): Promise<void>;
  drop(role: string): Promise<void>;
}

/** The tenant row. */
export interface TenantRow {
  id: string;
  name: string;
  displayName: string;
  namespace: string;
  messagesPerMinute: number;
  maxConcurrentRuns: number;
  tokensPerDay: number;
  /** Days of conversation history kept. */
  historyRetentionDays: number;
}

export interface TenantRows {
  get(id: string): Promise<TenantRow | null>;
  /** The id of the row named `name`, if any (names are unique). */
  idByName(name: string): Promise<string | null>;
  insert(row: TenantRow): Promise<void>;
  update(row: TenantRow): Promise<void>;
  /** Deletes the row; every tenant-scoped row goes with it (on delete cascade). */
  delete(id: string): Promise<void>;
}

/** The Tenant that holds a tenant id: its uid, and its name for messages. */
export interface TenantOwner {
  uid: string;
  name: string;
}

/**
 * Which Tenant holds each tenant id (table tenant_owners). A claim is recorded before anything
 * is written for the id, so two Tenants can never both provision it; Retain releases it.
 */
export interface TenantOwners {
  get(tenantId: string): Promise<TenantOwner | null>;
  /**
   * Records `owner` as the holder if the holder is still `expected` (null: none); false when
   * another reconcile changed it meanwhile (compare-and-swap).
   */
  claim(tenantId: string, owner: TenantOwner, expected: string | null): Promise<boolean>;
  /** Drops the record if `ownerUid` still holds it. */
  release(tenantId: string, ownerUid: string): Promise<void>;
}

/** Every Tenant object the API server has (including those being deleted), from the operator's cache. */
export interface TenantCatalog {
  list(): readonly Tenant[];
}

/** A Redis ACL user as the operator manages it. */
export interface AclUserSpec {
  enabled: boolean;
  /** SHA-256 hex of each password. */
  passwordHashes: string[];
  keys: string;
  channels: string;
  /** The command rules, in the form they were set. */
  commands: string;
}

export interface RedisAcl {
  get(user: string): Promise<AclUserSpec | null>;
  /** `rules` as the server reports them back in ACL GETUSER (servers reorder and expand them). */
  normalizeCommands(rules: string): Promise<string>;
  set(user: string, spec: AclUserSpec): Promise<void>;
  delete(user: string): Promise<void>;
  /** Deletes every key matching `pattern` (SCAN + UNLINK). */
  deleteKeys(pattern: string): Promise<number>;
}

/** A channel connection row. */
export interface ChannelRow {
  id: string;
  name: string;
  type: string;
  externalId: string;
  /** Encrypted credentials (encryptSecret output) or null. */
  credentials: string | null;
  settings: Record<string, unknown>;
}

export interface ChannelStore {
  list(tenantId: string): Promise<ChannelRow[]>;
  /** Inserts and returns the new id; throws SpecConflictError when the external id belongs to another connection. */
  insert(tenantId: string, row: Omit<ChannelRow, "id">): Promise<string>;
  update(tenantId: string, row: ChannelRow): Promise<void>;
  delete(tenantId: string, id: string): Promise<void>;
}

/** An agent row. */
export interface AgentRow {
  id: string;
  name: string;
  displayName: string;
  role: string;
  systemPrompt: string;
  model: string;
  fallbackModels: string[];
  temperature: number;
  maxHistoryMessages: number;
  isDefault: boolean;
  channels: string[];
}

export interface AgentStore {
  get(tenantId: string, name: string): Promise<AgentRow | null>;
  /** The name of the tenant's default agent, if any. */
  defaultAgent(tenantId: string): Promise<string | null>;
  insert(tenantId: string, row: Omit<AgentRow, "id">): Promise<string>;
  update(tenantId: string, row: AgentRow): Promise<void>;
  delete(tenantId: string, name: string): Promise<void>;
}

/** An invitation from `spec.owners` that can still be accepted. */
export interface LiveInvitation {
  id: string;
  email: string;
  /** SHA-256 of the link's token (portalTokenDigest). */
  tokenHash: Buffer;
}

/** What the database knows about a Tenant's owners. */
export interface OwnersState {
  /** Lower-cased emails of the tenant's portal users. */
  joined: Set<string>;
  /** Lower-cased emails (of those asked about) that belong to a portal user of another tenant: emails are unique across tenants. */
  elsewhere: Set<string>;
  /** Invitations of role owner made by the operator (invited_by null), not accepted, not expired. */
  live: LiveInvitation[];
}

/** portal_invitations rows the operator makes for `spec.owners`. */
export interface OwnerInvitations {
  state(tenantId: string, emails: readonly string[]): Promise<OwnersState>;
  /** Inserts an owner invitation valid for `days`; returns its id. */
  issue(tenantId: string, email: string, tokenHash: Buffer, days: number): Promise<string>;
  /** Expires invitations whose link was replaced or whose owner left spec.owners, so their links stop working. */
  revoke(tenantId: string, ids: readonly string[]): Promise<void>;
}

/** Which Tenant owns a namespace, from the operator's cache. */
export interface TenantDirectory {
  byNamespace(namespace: string): Tenant | null;
}

/**
 * A reconcile's verdict. `{}`: done until the object changes or the periodic resync looks
 * again. `{ requeue: true }`: not ready yet; the work queue looks again with per-key
 * exponential backoff (runtime/work-queue.ts).
 */
export interface ReconcileResult {
  requeue?: boolean;
}

export type { Agent, Tenant };
