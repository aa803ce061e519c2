import {
  legacyPortalTenantClusterRoles,
  PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
  PORTAL_AGENT_VIEWER_CLUSTER_ROLE,
  PORTAL_EDITOR_ROLES,
  PORTAL_EDITORS_ROLE_BINDING,
  PORTAL_IDENTITY_ROLES,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
  PORTAL_VIEWER_ROLES,
  PORTAL_VIEWERS_ROLE_BINDING,
  type PortalIdentityRole,
  portalIdentities,
  portalIdentity,
  portalImpersonationRules,
  portalTenantClusterRole,
  portalTenantRules,
} from "../api/portal.ts";
import type { Tenant } from "../api/tenant.ts";
import { jsonEqual, type Outcome, ok } from "../conditions.ts";
import { objectRef } from "../object-ref.ts";
import type { KubernetesPort, ObjectRef, RbacObject } from "../ports.ts";
import { MANAGED_BY, TENANT_LABEL, type TenantDeps, type TenantNames, tenantLabels } from "./tenant-context.ts";

const users = (tenant: string, roles: readonly PortalIdentityRole[]) =>
  roles.map((role) => ({ kind: "User" as const, name: portalIdentity(tenant, role) }));

/**
 * What a Tenant's three portal identities may do: in the tenant namespace, owners and admins
 * edit Agents and members read them (RoleBindings to the chart's two ClusterRoles); on the
 * cluster, each may get and patch its own Tenant object (a ClusterRole per Tenant,
 * `resourceNames: [<tenant>]`), and the chart's admission policy refuses every patch by a
 * member and limits the others' to allowed origins. Nothing else: no Secrets, no other
 * namespace, no other Tenant.
 */
export function portalAccessObjects(tenant: string, namespace: string, labels: Record<string, string>): RbacObject[] {
  const binding = (
    kind: "RoleBinding" | "ClusterRoleBinding",
    name: string,
    role: string,
    roles: readonly PortalIdentityRole[],
  ) => ({
    kind,
    name,
    ...(kind === "RoleBinding" ? { namespace } : {}),
    labels,
    roleRef: { kind: "ClusterRole" as const, name: role },
    subjects: users(tenant, roles),
  });
  const role = portalTenantClusterRole(tenant);
  return [
    binding("RoleBinding", PORTAL_EDITORS_ROLE_BINDING, PORTAL_AGENT_EDITOR_CLUSTER_ROLE, PORTAL_EDITOR_ROLES),
    binding("RoleBinding", PORTAL_VIEWERS_ROLE_BINDING, PORTAL_AGENT_VIEWER_CLUSTER_ROLE, PORTAL_VIEWER_ROLES),
    { kind: "ClusterRole", name: role, labels, rules: portalTenantRules(tenant) },
    binding("ClusterRoleBinding", role, role, PORTAL_IDENTITY_ROLES),
  ];
}

/** The per-Tenant editor and viewer ClusterRoles and bindings of earlier versions. */
function legacyObjects(tenant: string): { kind: "ClusterRole" | "ClusterRoleBinding"; name: string }[] {
  return legacyPortalTenantClusterRoles(tenant).flatMap((name) => [
    { kind: "ClusterRole" as const, name },
    { kind: "ClusterRoleBinding" as const, name },
  ]);
}

/** Deletes the legacy objects that exist (read from the watch cache, so free when there are none). */
async function removeLegacy(tenant: string, kube: KubernetesPort): Promise<number> {
  let removed = 0;
  for (const { kind, name } of legacyObjects(tenant)) {
    if ((await kube.getRbac(kind, name)) === null) continue;
    await kube.deleteRbac(kind, name);
    removed++;
  }
  return removed;
}

/** Writes `desired` when it is missing or differs in what the operator sets (labels it sets, rules, roleRef, subjects). */
async function ensureRbac(kube: KubernetesPort, desired: RbacObject, owner?: ObjectRef): Promise<boolean> {
  const current = await kube.getRbac(desired.kind, desired.name, desired.namespace);
  const labelsHeld = current !== null && Object.entries(desired.labels).every(([k, v]) => current.labels[k] === v);
  if (current !== null && labelsHeld && jsonEqual({ ...current, labels: desired.labels }, desired)) return false;
  await kube.applyRbac(desired, owner);
  return true;
}

/**
 * The per-Tenant RBAC of its portal identities, and the portal's right to impersonate them.
 * checkTenantClaims has allowed the namespace.
 */
export async function ensurePortalAccess(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const name = tenant.metadata.name;
  let wrote = 0;
  for (const object of portalAccessObjects(name, names.namespace, tenantLabels(tenant, names))) {
    if (await ensureRbac(deps.kube, object, objectRef("Tenant", tenant.metadata))) wrote++;
  }
  wrote += await removeLegacy(name, deps.kube);
  await syncPortalImpersonation(deps);
  if (wrote > 0) deps.log.info({ tenantId: names.tenantId, wrote }, "wrote portal access");
  return ok(
    "PortalAccessReady",
    `portal identities ${portalIdentity(name, "owner")}, :admin and :member hold their rights in ${names.namespace}; ` +
      `the portal may impersonate them`,
  );
}

/**
 * A deleted Tenant: its cluster-wide objects go, its namespaced ones when they are still its
 * own (a namespace handed on to another Tenant keeps that Tenant's), and it leaves the
 * impersonation grant.
 */
export async function removePortalAccess(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<void> {
  for (const object of portalAccessObjects(tenant.metadata.name, names.namespace, {})) {
    if (object.namespace !== undefined) {
      const current = await deps.kube.getRbac(object.kind, object.name, object.namespace, { fresh: true });
      if (current === null || current.labels[TENANT_LABEL] !== tenant.metadata.name) continue;
    }
    await deps.kube.deleteRbac(object.kind, object.name, object.namespace);
  }
  await removeLegacy(tenant.metadata.name, deps.kube);
  await syncPortalImpersonation(deps);
}

/**
 * What was last written through each API port: the ServiceAccount, the Tenants whose identities
 * the role lists, and when the role and binding were last read back (see syncPortalImpersonation).
 */
const lastSynced = new WeakMap<KubernetesPort, { serviceAccount: string; tenants: ReadonlySet<string>; at: number }>();
const DRIFT_CHECK_MS = 60_000;

/** Per API port: the sync running now, and the one that will run after it (shared by everyone who asked meanwhile). */
const syncs = new WeakMap<KubernetesPort, { running: Promise<void> | null; next: Promise<void> | null }>();

/**
 * Keeps PORTAL_IMPERSONATION_CLUSTER_ROLE equal to the identities of every Tenant in the cache
 * that is not being deleted, and its binding to the portal's ServiceAccount. A Tenant that does
 * not exist has no identity there, so its names can never be impersonated; the identities of a
 * Tenant refused its namespace hold nothing, since its bindings are never made.
 *
 * One sync at a time per process, so a later write always comes from a fresher cache; callers
 * that arrive while one runs share the next, which reads the cache when it starts (after they
 * called), so each still returns only once its own Tenant's identities are written. The role
 * lists every Tenant's names, so writing it once per new Tenant made start-up with N Tenants
 * write N roles of up to 3N names (10,000 Tenants: thousands of 1 MB writes, one after another);
 * now there is one write per round of whatever arrived during the previous one.
 */
export function syncPortalImpersonation(deps: TenantDeps): Promise<void> {
  let state = syncs.get(deps.kube);
  if (state === undefined) {
    state = { running: null, next: null };
    syncs.set(deps.kube, state);
  }
  const s = state;
  const start = (): Promise<void> => {
    const run = writePortalImpersonation(deps).finally(() => {
      if (s.running === run) s.running = null;
    });
    s.running = run;
    return run;
  };
  if (s.next !== null) return s.next;
  if (s.running === null) return start();
  s.next = s.running
    .catch(() => {})
    .then(() => {
      s.next = null;
      return start();
    });
  return s.next;
}

async function writePortalImpersonation(deps: TenantDeps): Promise<void> {
  const tenants = deps.tenants
    .list()
    .filter((t) => t.metadata.deletionTimestamp === undefined)
    .map((t) => t.metadata.name);
  const sa = deps.portal.serviceAccount;
  const serviceAccount = `${sa.namespace}/${sa.name}`;
  // Every Tenant's reconcile lands here, and the role lists every Tenant's identities: reading
  // it back each time made start-up with N Tenants read N roles of 3N names, and so did building
  // the 3N names to compare (1 MB of string per reconcile at 10,000 Tenants). The Tenants last
  // written are remembered (names are unique: same count and all present is the same set), and
  // the role is checked against the API server again only after a minute (drift).
  const last = lastSynced.get(deps.kube);
  const fresh = last !== undefined && last.serviceAccount === serviceAccount && Date.now() - last.at < DRIFT_CHECK_MS;
  if (fresh && last.tenants.size === tenants.length && tenants.every((t) => last.tenants.has(t))) return;
  const labels = { ...MANAGED_BY };
  const role: RbacObject = {
    kind: "ClusterRole",
    name: PORTAL_IMPERSONATION_CLUSTER_ROLE,
    labels,
    rules: portalImpersonationRules(tenants.flatMap((t) => portalIdentities(t))),
  };
  if (fresh) {
    // Written by this process less than a minute ago, and the Tenants changed since: it
    // differs, so reading it back first (as large as the write) would tell nothing new.
    await deps.kube.applyRbac(role);
  } else {
    await ensureRbac(deps.kube, role);
    await ensureRbac(deps.kube, {
      kind: "ClusterRoleBinding",
      name: PORTAL_IMPERSONATION_CLUSTER_ROLE,
      labels,
      roleRef: { kind: "ClusterRole", name: PORTAL_IMPERSONATION_CLUSTER_ROLE },
      subjects: [{ kind: "ServiceAccount", name: sa.name, namespace: sa.namespace }],
    });
  }
  lastSynced.set(deps.kube, { serviceAccount, tenants: new Set(tenants), at: fresh ? last.at : Date.now() });
}
