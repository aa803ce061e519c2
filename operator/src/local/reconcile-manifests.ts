import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { SecretKey } from "@konstruct/core/crypto";
import type { Database } from "@konstruct/core/db/types";
import { KonstructError } from "@konstruct/core/errors";
import type { Logger } from "@konstruct/core/logger";
import { Value } from "@sinclair/typebox/value";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { parseAllDocuments } from "yaml";
import { createAgentStore } from "../adapters/agent-store.ts";
import { createChannelStore } from "../adapters/channel-store.ts";
import { createOwnerInvitations } from "../adapters/owner-invitations.ts";
import { createPostgresRoles } from "../adapters/postgres-roles.ts";
import { createRedisAcl } from "../adapters/redis-acl.ts";
import { createTenantOwners } from "../adapters/tenant-owners.ts";
import { createTenantRows } from "../adapters/tenant-rows.ts";
import type { AgentDeps } from "../agent/agent-context.ts";
import { reconcileAgent } from "../agent/agent-controller.ts";
import { Agent } from "../api/agent.ts";
import { DEFAULT_INSTALL_NAMESPACE } from "../api/namespaces.ts";
import {
  DEFAULT_PORTAL_PUBLIC_URL,
  DEFAULT_PORTAL_SERVICE_ACCOUNT,
  invitationSecretKey,
  PORTAL_INVITATIONS_SECRET,
} from "../api/portal.ts";
import { Tenant } from "../api/tenant.ts";
import type { TenantDeps, TenantEndpoints } from "../tenant/tenant-context.ts";
import { tenantNames } from "../tenant/tenant-context.ts";
import { reconcileTenant } from "../tenant/tenant-controller.ts";
import { MemoryKubernetes, type StoredObject } from "./memory-kubernetes.ts";

/** A manifest the local driver cannot use; `issues` name each bad field. */
export class ManifestError extends KonstructError {
  readonly issues: readonly string[];

  constructor(file: string, issues: readonly string[]) {
    super("CONFIG_INVALID", `${file}: invalid manifest (fix these fields):\n  - ${issues.join("\n  - ")}`);
    this.name = "ManifestError";
    this.issues = issues;
  }
}

export interface LocalDeps {
  db: Kysely<Database>;
  redis: Redis;
  secretKey: SecretKey;
  endpoints: TenantEndpoints;
  log: Logger;
  /** JSON file keeping the Secrets the operator writes, so a later run reuses the passwords (and invitation links). */
  stateFile?: string;
  /** Where the portal listens: the base of first owners' invitation links (default DEFAULT_PORTAL_PUBLIC_URL). */
  portalPublicUrl?: string;
}

/** What one object came to. */
export interface LocalResult {
  kind: "Tenant" | "Agent";
  name: string;
  namespace?: string;
  ready: boolean;
  reason: string;
  message: string;
  status: Record<string, unknown>;
  /** A Tenant's owners: each email's invitation link, or null once that owner has joined the portal. */
  owners?: { email: string; link: string | null }[];
}

/**
 * A stable tenant id for a Tenant read from a file, which has no metadata.uid: a name-based
 * UUID (SHA-256, version 8), so every run of the same files reaches the same rows.
 */
export function localTenantId(name: string): string {
  const h = createHash("sha256").update(`konstruct.io/tenant/${name}`).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x80;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

async function readManifests(files: readonly string[]): Promise<{ file: string; object: Record<string, unknown> }[]> {
  const out: { file: string; object: Record<string, unknown> }[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(file, "utf8"))) {
      if (doc.errors.length > 0)
        throw new ManifestError(
          file,
          doc.errors.map((e) => e.message),
        );
      const object = doc.toJSON() as Record<string, unknown> | null;
      if (object) out.push({ file, object });
    }
  }
  return out;
}

function validated<T>(schema: typeof Tenant | typeof Agent, file: string, object: Record<string, unknown>): T {
  const value = Value.Default(schema, Value.Clone(object));
  const issues = [...Value.Errors(schema, value)].map((e) => `${e.path || "/"}: ${e.message}`);
  if (issues.length > 0) throw new ManifestError(file, issues);
  return value as T;
}

/**
 * Reconciles Tenants, Agents and Secrets read from YAML or JSON files with the operator's own
 * reconcile functions — real PostgreSQL and Redis, Kubernetes replaced by memory — which is
 * how the platform runs on a laptop without a cluster. Schemas and defaults are enforced as
 * the API server would; CEL rules (immutability across updates) have no previous version here.
 */
export async function reconcileManifests(files: readonly string[], deps: LocalDeps): Promise<LocalResult[]> {
  const kube = new MemoryKubernetes(deps.stateFile ? { stateFile: deps.stateFile } : {});
  const tenants: Tenant[] = [];
  const agents: Agent[] = [];
  for (const { file, object } of await readManifests(files)) {
    const metadata = (object.metadata ?? {}) as { name?: string; namespace?: string };
    if (object.kind === "Secret" && metadata.name && metadata.namespace) {
      const data = Object.fromEntries(
        Object.entries((object.data ?? {}) as Record<string, string>).map(([k, v]) => [
          k,
          Buffer.from(v, "base64").toString("utf8"),
        ]),
      );
      await kube.applySecret(metadata.namespace, metadata.name, {
        ...data,
        ...((object.stringData ?? {}) as Record<string, string>),
      });
    } else if (object.kind === "Tenant") {
      const tenant = validated<Tenant>(Tenant, file, object);
      tenant.metadata.uid = tenant.spec.tenantId ?? localTenantId(tenant.metadata.name);
      tenant.metadata.generation = 1;
      tenants.push(tenant);
      kube.put("Tenant", tenant);
    } else if (object.kind === "Agent") {
      const agent = validated<Agent>(Agent, file, object);
      agent.metadata.generation = 1;
      agents.push(agent);
    }
  }
  // Agents without a namespace go to their tenant's only when exactly one Tenant is defined.
  for (const agent of agents) {
    if (agent.metadata.namespace === undefined && tenants.length === 1)
      agent.metadata.namespace = tenantNames(tenants[0] as Tenant).namespace;
    kube.put("Agent", agent);
  }

  const tenantDeps: TenantDeps = {
    kube,
    roles: createPostgresRoles(deps.db),
    rows: createTenantRows(deps.db),
    acl: createRedisAcl(deps.redis),
    channels: createChannelStore(deps.db),
    owners: createTenantOwners(deps.db),
    invitations: createOwnerInvitations(deps.db),
    portal: {
      publicUrl: deps.portalPublicUrl ?? DEFAULT_PORTAL_PUBLIC_URL,
      // Nothing impersonates without an API server; the grant is kept in memory like the rest.
      serviceAccount: { namespace: DEFAULT_INSTALL_NAMESPACE, name: DEFAULT_PORTAL_SERVICE_ACCOUNT },
    },
    tenants: { list: () => tenants.map((t) => kube.get({ kind: "Tenant", name: t.metadata.name }) ?? t) },
    // Local runs have no cluster, so no install namespace to protect beyond the reserved ones.
    installNamespace: DEFAULT_INSTALL_NAMESPACE,
    secretKey: deps.secretKey,
    endpoints: deps.endpoints,
    log: deps.log,
  };
  const results: LocalResult[] = [];
  for (const tenant of tenants) {
    await reconcileTenant(tenant, tenantDeps);
    const links = (await kube.getSecret(tenantNames(tenant).namespace, PORTAL_INVITATIONS_SECRET)) ?? {};
    results.push({
      ...resultOf("Tenant", kube.get({ kind: "Tenant", name: tenant.metadata.name }) ?? tenant),
      owners: (tenant.spec.owners ?? []).map(({ email }) => ({ email, link: links[invitationSecretKey(email)] ?? null })),
    });
  }
  const agentDeps: AgentDeps = {
    kube,
    agents: createAgentStore(deps.db),
    tenants: {
      byNamespace: (namespace) =>
        tenants
          .map((t) => kube.get({ kind: "Tenant", name: t.metadata.name }) ?? t)
          .find((t) => tenantNames(t).namespace === namespace) ?? null,
    },
    log: deps.log,
  };
  for (const agent of agents) {
    await reconcileAgent(agent, agentDeps);
    const ref = { kind: "Agent" as const, name: agent.metadata.name, namespace: agent.metadata.namespace };
    results.push(resultOf("Agent", kube.get(ref) ?? agent));
  }
  return results;
}

function resultOf(kind: "Tenant" | "Agent", object: StoredObject): LocalResult {
  const ready = object.status?.conditions?.find((c) => c.type === "Ready");
  return {
    kind,
    name: object.metadata.name,
    ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
    ready: ready?.status === "True",
    reason: ready?.reason ?? "NotReconciled",
    message: ready?.message ?? "",
    status: object.status ?? {},
  };
}
