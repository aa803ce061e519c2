import type { Logger } from "@konstruct/core";
import type { Agent, AgentStatus } from "../api/agent.ts";
import { jsonEqual, mergeConditions, notReady, type Outcome, ok } from "../conditions.ts";
import { messageOf, reasonOf } from "../errors.ts";
import type { AgentRow, AgentStore, KubernetesPort, ObjectRef, ReconcileResult, TenantDirectory } from "../ports.ts";

export const AGENT_FINALIZER = "konstruct.io/agent-cleanup";

export interface AgentDeps {
  kube: KubernetesPort;
  agents: AgentStore;
  tenants: TenantDirectory;
  log: Logger;
  retryAfterMs?: number;
}

function agentRef(agent: Agent): ObjectRef {
  return {
    kind: "Agent",
    name: agent.metadata.name,
    namespace: agent.metadata.namespace,
    uid: agent.metadata.uid,
    resourceVersion: agent.metadata.resourceVersion,
  };
}

/** The agent row the spec describes. */
export function desiredAgentRow(agent: Agent): Omit<AgentRow, "id"> {
  const s = agent.spec;
  return {
    name: agent.metadata.name,
    displayName: s.displayName,
    role: s.role ?? "",
    systemPrompt: s.systemPrompt ?? s.persona ?? "",
    model: s.model,
    fallbackModels: s.fallbackModels ?? [],
    temperature: s.temperature ?? 0.7,
    maxHistoryMessages: s.maxHistoryMessages ?? 20,
    isDefault: s.default ?? false,
    channels: s.channels ?? [],
  };
}

// `real` columns round 0.7 to 0.699999988: compare temperatures with a tolerance.
function sameRow(a: Omit<AgentRow, "id">, b: Omit<AgentRow, "id">): boolean {
  return Math.abs(a.temperature - b.temperature) < 1e-6 && jsonEqual({ ...a, temperature: 0 }, { ...b, temperature: 0 });
}

/**
 * Reconciles one Agent into the agents table of the tenant that owns its namespace. A
 * namespace of no Tenant, or a second default agent, becomes a clear condition; the
 * database's partial unique index is what guarantees one default per tenant.
 */
export async function reconcileAgent(agent: Agent, deps: AgentDeps): Promise<ReconcileResult> {
  const namespace = agent.metadata.namespace ?? "";
  const tenant = deps.tenants.byNamespace(namespace);
  const tenantId = tenant?.status?.tenantId;
  const finalizers = agent.metadata.finalizers ?? [];
  if (agent.metadata.deletionTimestamp !== undefined) {
    if (!finalizers.includes(AGENT_FINALIZER)) return {};
    if (tenantId !== undefined) await deps.agents.delete(tenantId, agent.metadata.name);
    await deps.kube.setFinalizers(
      agentRef(agent),
      finalizers.filter((f) => f !== AGENT_FINALIZER),
    );
    return {};
  }

  let outcome: Outcome;
  let agentId = agent.status?.agentId;
  const tenantReady = tenant?.status?.conditions?.some((c) => c.type === "DatabaseReady" && c.status === "True");
  if (tenant === null || tenantId === undefined) {
    outcome = notReady("TenantNotFound", `namespace ${namespace} belongs to no Tenant; create Agents in a Tenant's namespace`);
  } else if (!tenantReady) {
    outcome = notReady("TenantNotReady", `waiting for Tenant ${tenant.metadata.name}'s database`);
  } else {
    if (!finalizers.includes(AGENT_FINALIZER)) await deps.kube.setFinalizers(agentRef(agent), [...finalizers, AGENT_FINALIZER]);
    try {
      const result = await ensureAgentRow(agent, tenantId, deps);
      agentId = result.id;
      outcome = result.outcome;
    } catch (error) {
      outcome = notReady(reasonOf(error, "DatabaseFailed"), messageOf(error));
    }
  }

  const status: AgentStatus = {
    ...(agentId ? { agentId } : {}),
    ...(tenantId ? { tenantId } : {}),
    observedGeneration: agent.metadata.generation,
    conditions: mergeConditions(agent.status?.conditions, { Ready: outcome }, agent.metadata.generation, new Date()),
  };
  if (!jsonEqual(agent.status ?? {}, status)) {
    await deps.kube.patchStatus(agentRef(agent), status as Record<string, unknown>);
    const was = agent.status?.conditions?.find((c) => c.type === "Ready");
    if (was?.reason !== outcome.reason) {
      await deps.kube.recordEvent(agentRef(agent), outcome.ready ? "Normal" : "Warning", outcome.reason, outcome.message);
    }
  }
  return outcome.ready ? {} : { requeueAfterMs: deps.retryAfterMs ?? 10_000 };
}

async function ensureAgentRow(agent: Agent, tenantId: string, deps: AgentDeps): Promise<{ id: string; outcome: Outcome }> {
  const desired = desiredAgentRow(agent);
  let conflict: string | null = null;
  if (desired.isDefault) {
    const holder = await deps.agents.defaultAgent(tenantId);
    if (holder !== null && holder !== desired.name) {
      conflict = holder;
      desired.isDefault = false; // serve as an ordinary agent until the conflict is resolved
    }
  }
  const row = await deps.agents.get(tenantId, desired.name);
  let id = row?.id;
  if (row === null) id = await deps.agents.insert(tenantId, desired);
  else if (!sameRow(row, desired)) await deps.agents.update(tenantId, { ...desired, id: row.id });
  const outcome =
    conflict === null
      ? ok("Reconciled", `agent ${desired.name} serves tenant ${tenantId}`)
      : notReady("DefaultConflict", `Agent ${conflict} is already the tenant's default; set default: false on one of them`);
  return { id: id as string, outcome };
}
