import type { Agent } from "../api/agent.ts";
import { AGENT_DEFAULTS } from "../api/defaults.ts";
import { jsonEqual, notReady, type Outcome, ok } from "../conditions.ts";
import type { AgentRow } from "../ports.ts";
import type { AgentDeps } from "./agent-context.ts";

/** The outcome of ensuring the agent row, with the row's id once it exists. */
export interface AgentRowOutcome extends Outcome {
  agentId?: string;
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
    temperature: s.temperature ?? AGENT_DEFAULTS.temperature,
    maxHistoryMessages: s.maxHistoryMessages ?? AGENT_DEFAULTS.maxHistoryMessages,
    isDefault: s.default ?? AGENT_DEFAULTS.default,
    channels: s.channels ?? [],
  };
}

// `real` columns round 0.7 to 0.699999988: compare temperatures with a tolerance.
function sameRow(a: Omit<AgentRow, "id">, b: Omit<AgentRow, "id">): boolean {
  return Math.abs(a.temperature - b.temperature) < 1e-6 && jsonEqual({ ...a, temperature: 0 }, { ...b, temperature: 0 });
}

/**
 * The agent row in the tenant's agents table, written only when it differs from the spec. A
 * second default agent is stored as an ordinary one and reported as a conflict; the
 * database's partial unique index is what guarantees one default per tenant.
 */
export async function ensureAgentRow(agent: Agent, tenantId: string, deps: AgentDeps): Promise<AgentRowOutcome> {
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
  let agentId: string;
  if (row === null) agentId = await deps.agents.insert(tenantId, desired);
  else {
    // Compare without the id: the spec has none, and a row that always differs is rewritten
    // (and announced to every service by NOTIFY) on every resync.
    const { id, ...current } = row;
    agentId = id;
    if (!sameRow(current, desired)) await deps.agents.update(tenantId, { ...desired, id });
  }
  const outcome =
    conflict === null
      ? ok("Reconciled", `agent ${desired.name} serves tenant ${tenantId}`)
      : notReady("DefaultConflict", `Agent ${conflict} is already the tenant's default; set default: false on one of them`);
  return { ...outcome, agentId };
}
