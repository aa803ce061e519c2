import type { Agent } from "../api/agent.ts";
import { attempt } from "../conditions.ts";
import type { ReconcileResult } from "../ports.ts";
import { writeStatus } from "../status-writer.ts";
import { type AgentDeps, agentRef } from "./agent-context.ts";
import { ensureAgentFinalizer, finalizeAgent } from "./agent-finalizer.ts";
import { type AgentRowOutcome, ensureAgentRow } from "./agent-row.ts";
import { agentStatus } from "./agent-status.ts";
import { owningTenant } from "./agent-tenant.ts";

/**
 * Reconciles one Agent into the agents table of the tenant that owns its namespace: resolve
 * the tenant, finalizer first, then the row, then status. A missing or unready tenant, a
 * second default agent or a failing database becomes the Ready condition and a retry.
 */
export async function reconcileAgent(agent: Agent, deps: AgentDeps): Promise<ReconcileResult> {
  const { tenantId, outcome: tenant } = owningTenant(agent, deps.tenants);
  if (agent.metadata.deletionTimestamp !== undefined) return finalizeAgent(agent, tenantId, deps);

  let row: AgentRowOutcome = tenant;
  if (tenant.ready && tenantId !== undefined) {
    await ensureAgentFinalizer(agent, deps);
    row = await attempt("DatabaseFailed", () => ensureAgentRow(agent, tenantId, deps));
  }

  await writeStatus(deps.kube, agentRef(agent), agent.status, agentStatus(agent, tenantId, row, new Date()));
  return row.ready ? {} : { requeue: true };
}
