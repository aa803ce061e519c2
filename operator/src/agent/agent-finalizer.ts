import type { Agent } from "../api/agent.ts";
import { ensureFinalizer, finalize } from "../finalizers.ts";
import type { ReconcileResult } from "../ports.ts";
import { AGENT_FINALIZER, type AgentDeps, agentRef } from "./agent-context.ts";

/** Adds the cleanup finalizer before the agent row is written, so no deletion can outrun it. */
export async function ensureAgentFinalizer(agent: Agent, deps: AgentDeps): Promise<void> {
  await ensureFinalizer(deps.kube, agentRef(agent), agent, AGENT_FINALIZER);
}

/** A deleted Agent: its row goes (when its tenant is still known), then the finalizer is released. */
export async function finalizeAgent(agent: Agent, tenantId: string | undefined, deps: AgentDeps): Promise<ReconcileResult> {
  await finalize(deps.kube, agentRef(agent), agent, AGENT_FINALIZER, async () => {
    if (tenantId !== undefined) await deps.agents.delete(tenantId, agent.metadata.name);
  });
  return {};
}
