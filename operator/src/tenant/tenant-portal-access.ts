import {
  PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
  PORTAL_AGENT_VIEWER_CLUSTER_ROLE,
  PORTAL_EDITOR_ROLES,
  PORTAL_EDITORS_ROLE_BINDING,
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
 * cluster, each may get its own Tenant object and owners and admins patch it (a ClusterRole
 * per Tenant, `resourceNames: [<tenant>]`; the chart's admission policy limits those patches to
 * allowed origins). Nothing else: no Secrets, no other namespace, no other Tenant.
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
  const editor = portalTenantClusterRole(tenant, "editor");
  const viewer = portalTenantClusterRole(tenant, "viewer");
  return [
    binding("RoleBinding", PORTAL_EDITORS_ROLE_BINDING, PORTAL_AGENT_EDITOR_CLUSTER_ROLE, PORTAL_EDITOR_ROLES),
    binding("RoleBinding", PORTAL_VIEWERS_ROLE_BINDING, PORTAL_AGENT_VIEWER_CLUSTER_ROLE, PORTAL_VIEWER_ROLES),
    { kind: "ClusterRole", name: editor, labels, rules: portalTenantRules(tenant, "editor") },
    { kind: "ClusterRole", name: viewer, labels, rules: portalTenantRules(tenant, "viewer") },
    binding("ClusterRoleBinding", editor, editor, PORTAL_EDITOR_ROLES),
    binding("ClusterRoleBinding", viewer, viewer, PORTAL_VIEWER_ROLES),
  ];
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
      const current = await deps.kube.getRbac(object.kind, object.name, object.namespace);
      if (current === null || current.labels[TENANT_LABEL] !== tenant.metadata.name) continue;
    }
    await deps.kube.deleteRbac(object.kind, object.name, object.namespace);
  }
  await syncPortalImpersonation(deps);
}

/** The impersonation set last written through each API port, and when: see syncPortalImpersonation. */
const lastSynced = new WeakMap<KubernetesPort, { key: string; at: number }>();
const DRIFT_CHECK_MS = 60_000;

/** One impersonation write at a time per process, so a later write always comes from a fresher cache. */
const chains = new WeakMap<KubernetesPort, Promise<unknown>>();

function serialized<T>(kube: KubernetesPort, fn: () => Promise<T>): Promise<T> {
  const run = (chains.get(kube) ?? Promise.resolve()).then(fn, fn);
  chains.set(
    kube,
    run.catch(() => {}),
  );
  return run;
}

/**
 * Keeps PORTAL_IMPERSONATION_CLUSTER_ROLE equal to the identities of every Tenant in the cache
 * that is not being deleted, and its binding to the portal's ServiceAccount. A Tenant that does
 * not exist has no identity there, so its names can never be impersonated; the identities of a
 * Tenant refused its namespace hold nothing, since its bindings are never made.
 */
export async function syncPortalImpersonation(deps: TenantDeps): Promise<void> {
  await serialized(deps.kube, async () => {
    const identities = deps.tenants
      .list()
      .filter((t) => t.metadata.deletionTimestamp === undefined)
      .flatMap((t) => portalIdentities(t.metadata.name));
    const sa = deps.portal.serviceAccount;
    // Every Tenant's reconcile lands here, and the role lists every Tenant's identities: reading
    // it back each time made start-up with N Tenants read N roles of 3N names. The set last
    // written is remembered, and checked against the API server again only after a minute (drift).
    const key = `${sa.namespace}/${sa.name}:${identities.join(",")}`;
    const last = lastSynced.get(deps.kube);
    if (last !== undefined && last.key === key && Date.now() - last.at < DRIFT_CHECK_MS) return;
    const labels = { ...MANAGED_BY };
    await ensureRbac(deps.kube, {
      kind: "ClusterRole",
      name: PORTAL_IMPERSONATION_CLUSTER_ROLE,
      labels,
      rules: portalImpersonationRules(identities),
    });
    await ensureRbac(deps.kube, {
      kind: "ClusterRoleBinding",
      name: PORTAL_IMPERSONATION_CLUSTER_ROLE,
      labels,
      roleRef: { kind: "ClusterRole", name: PORTAL_IMPERSONATION_CLUSTER_ROLE },
      subjects: [{ kind: "ServiceAccount", name: sa.name, namespace: sa.namespace }],
    });
    lastSynced.set(deps.kube, { key, at: Date.now() });
  });
}
