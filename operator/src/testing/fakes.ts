import { createLogger, parseSecretKey } from "@konstruct/core";
import type { Tenant } from "../api/tenant.ts";
import type {
  AclUserSpec,
  AgentRow,
  AgentStore,
  ChannelRow,
  ChannelStore,
  KubernetesPort,
  OwnerInvitations,
  PostgresRoles,
  RedisAcl,
  RoleState,
  TenantOwner,
  TenantOwners,
  TenantRow,
  TenantRows,
} from "../ports.ts";
import type { TenantDeps } from "../tenant/tenant-context.ts";

/** In-memory PostgreSQL and Redis ports for unit tests; each counts its writes. */
export function memoryStores() {
  const writes: string[] = [];
  const roles = new Map<string, RoleState>();
  const tenants = new Map<string, TenantRow>();
  const acl = new Map<string, AclUserSpec>();
  const channels = new Map<string, ChannelRow & { tenantId: string }>();
  let nextId = 1;
  const rolesPort: PostgresRoles = {
    async get(role) {
      return roles.get(role) ?? null;
    },
    async create(role, verifier, tenantId, limits) {
      writes.push(`create role ${role}`);
      roles.set(role, { canLogin: true, inTenantGroup: true, mappedTenantId: tenantId, verifier, limits });
    },
    async update(role, tenantId, verifier, limits) {
      writes.push(`update role ${role}`);
      const before = roles.get(role);
      roles.set(role, {
        canLogin: true,
        inTenantGroup: true,
        mappedTenantId: tenantId,
        verifier: verifier ?? before?.verifier ?? null,
        limits,
      });
    },
    async drop(role) {
      writes.push(`drop role ${role}`);
      roles.delete(role);
    },
  };
  const rowsPort: TenantRows = {
    async get(id) {
      return tenants.get(id) ?? null;
    },
    async idByName(name) {
      return [...tenants.values()].find((t) => t.name === name)?.id ?? null;
    },
    async insert(row) {
      writes.push(`insert tenant ${row.name}`);
      tenants.set(row.id, { ...row });
    },
    async update(row) {
      writes.push(`update tenant ${row.name}`);
      tenants.set(row.id, { ...row });
    },
    async delete(id) {
      writes.push(`delete tenant ${id}`);
      tenants.delete(id);
      for (const [k, c] of channels) if (c.tenantId === id) channels.delete(k);
    },
  };
  const aclPort: RedisAcl = {
    async get(user) {
      return acl.get(user) ?? null;
    },
    async normalizeCommands(rules) {
      return rules;
    },
    async set(user, spec) {
      writes.push(`acl setuser ${user}`);
      acl.set(user, structuredClone(spec));
    },
    async delete(user) {
      writes.push(`acl deluser ${user}`);
      acl.delete(user);
    },
    async deleteKeys() {
      return 0;
    },
  };
  const channelsPort: ChannelStore = {
    async list(tenantId) {
      return [...channels.values()].filter((c) => c.tenantId === tenantId).map(({ tenantId: _, ...c }) => structuredClone(c));
    },
    async insert(tenantId, row) {
      writes.push(`insert channel ${row.name}`);
      const id = `00000000-0000-4000-8000-${String(nextId++).padStart(12, "0")}`;
      channels.set(id, { ...structuredClone(row), id, tenantId });
      return id;
    },
    async update(tenantId, row) {
      writes.push(`update channel ${row.name}`);
      channels.set(row.id, { ...structuredClone(row), tenantId });
    },
    async delete(_tenantId, id) {
      writes.push(`delete channel ${id}`);
      channels.delete(id);
    },
  };
  const owners = new Map<string, TenantOwner>();
  const ownersPort: TenantOwners = {
    async get(tenantId) {
      return owners.get(tenantId) ?? null;
    },
    async claim(tenantId, owner, expected) {
      if ((owners.get(tenantId)?.uid ?? null) !== expected) return false;
      writes.push(`claim tenant ${tenantId}`);
      owners.set(tenantId, { ...owner });
      return true;
    },
    async release(tenantId, ownerUid) {
      if (owners.get(tenantId)?.uid !== ownerUid) return;
      writes.push(`release tenant ${tenantId}`);
      owners.delete(tenantId);
    },
  };
  const agents = new Map<string, AgentRow & { tenantId: string }>();
  const agentKey = (tenantId: string, name: string) => `${tenantId}/${name}`;
  // Like the partial unique index agents_one_default_per_tenant: a second default is refused.
  const checkDefault = (tenantId: string, row: Omit<AgentRow, "id">) => {
    for (const a of agents.values())
      if (row.isDefault && a.isDefault && a.tenantId === tenantId && a.name !== row.name)
        throw new Error("duplicate key value violates unique constraint agents_one_default_per_tenant");
  };
  const agentsPort: AgentStore = {
    async get(tenantId, name) {
      const row = agents.get(agentKey(tenantId, name));
      if (row === undefined) return null;
      const { tenantId: _, ...rest } = row;
      return structuredClone(rest);
    },
    async defaultAgent(tenantId) {
      return [...agents.values()].find((a) => a.tenantId === tenantId && a.isDefault)?.name ?? null;
    },
    async insert(tenantId, row) {
      writes.push(`insert agent ${row.name}`);
      checkDefault(tenantId, row);
      const id = `00000000-0000-4000-8000-${String(nextId++).padStart(12, "0")}`;
      agents.set(agentKey(tenantId, row.name), { ...structuredClone(row), id, tenantId });
      return id;
    },
    async update(tenantId, row) {
      writes.push(`update agent ${row.name}`);
      checkDefault(tenantId, row);
      agents.set(agentKey(tenantId, row.name), { ...structuredClone(row), tenantId });
    },
    async delete(tenantId, name) {
      writes.push(`delete agent ${name}`);
      agents.delete(agentKey(tenantId, name));
    },
  };
  /** portal_invitations rows and portal_users emails (by tenant id); `now` moves time for expiry. */
  const invitations = new Map<
    string,
    { id: string; tenantId: string; email: string; tokenHash: Buffer; expiresAt: number; acceptedAt: number | null }
  >();
  const portalUsers: { tenantId: string; email: string }[] = [];
  const clock = { now: Date.now() };
  const invitationsPort: OwnerInvitations = {
    async state(tenantId, emails) {
      const asked = new Set(emails.map((e) => e.toLowerCase()));
      const joined = new Set(portalUsers.filter((u) => u.tenantId === tenantId).map((u) => u.email.toLowerCase()));
      const elsewhere = new Set(
        portalUsers.filter((u) => u.tenantId !== tenantId && asked.has(u.email.toLowerCase())).map((u) => u.email.toLowerCase()),
      );
      const live = [...invitations.values()]
        .filter((i) => i.tenantId === tenantId && i.acceptedAt === null && i.expiresAt > clock.now)
        .map((i) => ({ id: i.id, email: i.email, tokenHash: i.tokenHash }));
      return { joined, elsewhere, live };
    },
    async issue(tenantId, email, tokenHash, days) {
      writes.push(`issue invitation ${email}`);
      const id = `00000000-0000-4000-8000-${String(nextId++).padStart(12, "0")}`;
      invitations.set(id, { id, tenantId, email, tokenHash, expiresAt: clock.now + days * 86_400_000, acceptedAt: null });
      return id;
    },
    async revoke(tenantId, ids) {
      for (const id of ids) {
        const i = invitations.get(id);
        if (i?.tenantId !== tenantId || i.acceptedAt !== null) continue;
        writes.push(`revoke invitation ${i.email}`);
        i.expiresAt = clock.now;
      }
    },
  };
  return {
    writes,
    invitations,
    portalUsers,
    clock,
    invitationsPort,
    roles,
    tenants,
    acl,
    channels,
    agents,
    owners,
    rolesPort,
    rowsPort,
    aclPort,
    channelsPort,
    agentsPort,
    ownersPort,
  };
}

/**
 * A Tenant reconcile's dependencies over in-memory Kubernetes and stores, with fixed settings for
 * unit tests; `tenants` is what the claims check and the impersonation grant see of every Tenant.
 */
export function memoryTenantDeps(
  kube: KubernetesPort,
  stores: ReturnType<typeof memoryStores>,
  tenants: () => Tenant[],
  overrides: Partial<TenantDeps> = {},
): TenantDeps {
  return {
    kube,
    roles: stores.rolesPort,
    rows: stores.rowsPort,
    acl: stores.aclPort,
    channels: stores.channelsPort,
    owners: stores.ownersPort,
    invitations: stores.invitationsPort,
    portal: {
      publicUrl: "https://konstruct.example.com",
      serviceAccount: { namespace: "konstruct-system", name: "konstruct-portal" },
    },
    tenants: { list: tenants },
    installNamespace: "konstruct-system",
    secretKey: parseSecretKey(Buffer.alloc(32, 1).toString("base64")),
    endpoints: { postgresHost: "db", postgresPort: 5432, postgresDatabase: "konstruct", redisHost: "redis", redisPort: 6379 },
    log: createLogger({ name: "test", level: "silent" }),
    ...overrides,
  };
}
