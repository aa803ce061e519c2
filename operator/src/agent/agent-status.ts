import type { Agent, AgentStatus } from "../api/agent.ts";
import { mergeConditions } from "../conditions.ts";
import type { AgentRowOutcome } from "./agent-row.ts";

/** The status the outcome describes; the agent id survives a reconcile that could not reach the row. */
export function agentStatus(agent: Agent, tenantId: string | undefined, row: AgentRowOutcome, now: Date): AgentStatus {
  const agentId = row.agentId ?? agent.status?.agentId;
  return {
    ...(agentId ? { agentId } : {}),
    ...(tenantId ? { tenantId } : {}),
    observedGeneration: agent.metadata.generation,
    conditions: mergeConditions(agent.status?.conditions, { Ready: row }, agent.metadata.generation, now),
  };
}
