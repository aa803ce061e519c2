import type { Agent } from "../api/agent.ts";
import { notReady, type Outcome, ok } from "../conditions.ts";
import type { TenantDirectory } from "../ports.ts";

/** The tenant an Agent belongs to, and whether its database can take agent rows yet. */
export interface OwningTenant {
  /** Known once the Tenant that owns the namespace has reported its id. */
  tenantId: string | undefined;
  outcome: Outcome;
}

/**
 * Resolves the Tenant whose namespace the Agent lives in. A namespace of no Tenant, and a
 * Tenant whose database is not ready, are conditions the Agent reports; the operator wakes
 * the namespace's Agents when their Tenant changes.
 */
export function owningTenant(agent: Agent, directory: TenantDirectory): OwningTenant {
  const namespace = agent.metadata.namespace ?? "";
  const tenant = directory.byNamespace(namespace);
  const tenantId = tenant?.status?.tenantId;
  if (tenant === null || tenantId === undefined)
    return {
      tenantId,
      outcome: notReady("TenantNotFound", `namespace ${namespace} belongs to no Tenant; create Agents in a Tenant's namespace`),
    };
  const databaseReady = tenant.status?.conditions?.some((c) => c.type === "DatabaseReady" && c.status === "True");
  if (!databaseReady)
    return { tenantId, outcome: notReady("TenantNotReady", `waiting for Tenant ${tenant.metadata.name}'s database`) };
  return { tenantId, outcome: ok("TenantReady", `tenant ${tenantId}`) };
}
