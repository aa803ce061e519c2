import type { Logger } from "@konstruct/core/logger";
import type { Agent } from "../api/agent.ts";
import { objectRef } from "../object-ref.ts";
import type { AgentStore, KubernetesPort, ObjectRef, TenantDirectory } from "../ports.ts";

/** Everything an Agent reconcile needs, as ports. */
export interface AgentDeps {
  kube: KubernetesPort;
  agents: AgentStore;
  tenants: TenantDirectory;
  log: Logger;
}

export const AGENT_FINALIZER = "konstruct.io/agent-cleanup";

export function agentRef(agent: Agent): ObjectRef {
  return objectRef("Agent", agent.metadata);
}
