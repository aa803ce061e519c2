import { isReservedNamespace } from "../api/namespaces.ts";
import type { Tenant } from "../api/tenant.ts";
import { notReady, type Outcome, ok } from "../conditions.ts";
import { TENANT_ID_LABEL, TENANT_LABEL, TENANT_UID_LABEL, type TenantDeps, type TenantNames } from "./tenant-context.ts";

/** The reasons a Tenant is refused; a refused Tenant holds nothing (see owningTenant for Agents). */
export const CLAIM_REFUSALS = ["NamespaceNotAllowed", "NamespaceTaken", "NamespaceNotOwned", "TenantIdInUse"] as const;

/** Whether the Tenant's last reconcile refused its claims. */
export function claimsRefused(tenant: Tenant): boolean {
  const ready = tenant.status?.conditions?.find((c) => c.type === "Ready");
  return ready !== undefined && (CLAIM_REFUSALS as readonly string[]).includes(ready.reason);
}

/**
 * Whoever creates a Tenant gets that tenant only. Before anything is written for it, the Tenant
 * must be allowed its namespace (not reserved, and new, or created or labelled for this Tenant)
 * and its tenant id (no other live Tenant's). The one write here is the claim on the tenant id,
 * made last, once everything else is allowed.
 */
export async function checkTenantClaims(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const namespace = await checkNamespace(tenant, names, deps);
  return namespace.ready ? claimTenantId(tenant, names, deps) : namespace;
}

const startOver = "delete this Tenant and create it again with another spec.namespace (it is immutable)";

/**
 * A namespace is this Tenant's when it does not exist yet (the operator creates it), carries
 * this Tenant's uid (the operator created or adopted it for this Tenant), or is labelled
 * konstruct.io/tenant=<name> — by an admin handing it over (no uid), or left behind by a Tenant
 * of the same name deleted with Retain, for the Tenant that adopts that tenant's id.
 */
async function checkNamespace(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const ns = names.namespace;
  if (isReservedNamespace(ns) || ns === deps.installNamespace) {
    const what = ns === deps.installNamespace ? "the Konstruct operator's own namespace" : "a namespace of Kubernetes itself";
    return notReady("NamespaceNotAllowed", `namespace ${ns} is ${what} and can never be a tenant's; ${startOver}`);
  }
  const labels = await deps.kube.getNamespaceLabels(ns);
  if (labels === null) return ok("NamespaceFree", `namespace ${ns} will be created`);
  const uid = labels[TENANT_UID_LABEL];
  const holder = labels[TENANT_LABEL];
  if (uid === tenant.metadata.uid) return ok("NamespaceOwned", `namespace ${ns}`);
  if (holder !== undefined && holder !== tenant.metadata.name)
    return notReady("NamespaceTaken", `namespace ${ns} belongs to Tenant ${holder}; ${startOver}`);
  if (holder === tenant.metadata.name) {
    if (uid === undefined) return ok("NamespaceHandedOver", `namespace ${ns} is labelled ${TENANT_LABEL}=${holder}`);
    const retainedId = labels[TENANT_ID_LABEL];
    if (retainedId === names.tenantId) return ok("NamespaceRetained", `namespace ${ns} of tenant ${retainedId}`);
    return notReady(
      "NamespaceNotOwned",
      `namespace ${ns} holds the retained data of tenant ${retainedId ?? "(unknown)"}, created by an earlier Tenant ${holder}; ` +
        `set spec.tenantId: ${retainedId ?? "<its id>"} to adopt it, or ${startOver}`,
    );
  }
  return notReady(
    "NamespaceNotOwned",
    `namespace ${ns} exists and was not created for this Tenant; to hand it over, label it ` +
      `${TENANT_LABEL}=${tenant.metadata.name} (kubectl label namespace ${ns} ${TENANT_LABEL}=${tenant.metadata.name}), or ${startOver}`,
  );
}

/**
 * A Tenant's own uid is always its to use. Any other id (spec.tenantId) must be held by no
 * live Tenant: not another Tenant's uid, not the id a Ready Tenant reports, not claimed in
 * tenant_owners by a Tenant that still exists. The claim is a compare-and-swap, so two Tenants
 * adopting the same retained id at once cannot both win.
 */
async function claimTenantId(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const id = names.tenantId;
  const me = { uid: tenant.metadata.uid as string, name: tenant.metadata.name };
  const inUse = (by: string) =>
    notReady(
      "TenantIdInUse",
      `tenant id ${id} belongs to Tenant ${by}, which still exists; only data a deleted Tenant left behind ` +
        `(reclaimPolicy Retain) can be adopted: delete this Tenant and create it without spec.tenantId`,
    );
  if (id !== me.uid) {
    const rival = otherTenantUsing(tenant, id, deps);
    if (rival) return inUse(rival.metadata.name);
  }
  const holder = await deps.owners.get(id);
  if (holder?.uid === me.uid) return ok("TenantIdClaimed", `tenant id ${id}`);
  if (holder !== null && id !== me.uid && deps.tenants.list().some((t) => t.metadata.uid === holder.uid))
    return inUse(holder.name);
  // Free, held by a Tenant that no longer exists (its finalizer was removed by hand), or this Tenant's own uid.
  if (!(await deps.owners.claim(id, me, holder?.uid ?? null)))
    return notReady("TenantIdClaimRaced", `tenant id ${id} was claimed by another reconcile meanwhile; checking again`);
  deps.log.info({ tenantId: id, previousOwner: holder?.name }, "claimed tenant id");
  return ok("TenantIdClaimed", `tenant id ${id}`);
}

/** Whether the namespace may be deleted with this Tenant: the operator created or adopted it for this Tenant (its uid label). */
export async function holdsNamespace(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<boolean> {
  const ns = names.namespace;
  if (isReservedNamespace(ns) || ns === deps.installNamespace) return false;
  const labels = await deps.kube.getNamespaceLabels(ns, { fresh: true });
  // Relabelled for another Tenant since (an admin handing it on): no longer this Tenant's to delete.
  return (
    labels !== null &&
    labels[TENANT_UID_LABEL] === tenant.metadata.uid &&
    (labels[TENANT_LABEL] ?? tenant.metadata.name) === tenant.metadata.name
  );
}

/**
 * Whether the tenant id's data may be dropped or released with this Tenant: its claim is this
 * Tenant's. Without any claim (a Tenant provisioned before claims were recorded), it is when no
 * other live Tenant uses the id.
 */
export async function holdsTenantId(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<boolean> {
  const holder = await deps.owners.get(names.tenantId);
  if (holder !== null) return holder.uid === tenant.metadata.uid;
  return otherTenantUsing(tenant, names.tenantId, deps) === undefined;
}

/** Another live Tenant using tenant id `id`: as its uid, or as the id it reports without being refused. */
function otherTenantUsing(tenant: Tenant, id: string, deps: TenantDeps): Tenant | undefined {
  return deps.tenants
    .list()
    .find(
      (t) =>
        t.metadata.uid !== tenant.metadata.uid && (t.metadata.uid === id || (t.status?.tenantId === id && !claimsRefused(t))),
    );
}
