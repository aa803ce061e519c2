import { createLogger } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import type { Agent } from "../api/agent.ts";
import { AGENT_DEFAULTS } from "../api/defaults.ts";
import type { Tenant } from "../api/tenant.ts";
import { MemoryKubernetes } from "../local/memory-kubernetes.ts";
import { memoryStores } from "../testing/fakes.ts";
import { AGENT_FINALIZER, type AgentDeps } from "./agent-context.ts";
import { reconcileAgent } from "./agent-controller.ts";

const TENANT_ID = "7d1c1e8e-4d5f-4a55-9a3c-0a5b1c2d3e4f";
const NAMESPACE = "konstruct-acme";

function tenant(databaseReady: boolean): Tenant {
  return {
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Tenant",
    metadata: { name: "acme", uid: TENANT_ID, generation: 1 },
    spec: { displayName: "Acme", reclaimPolicy: "Delete" },
    status: {
      tenantId: TENANT_ID,
      namespace: NAMESPACE,
      conditions: [
        {
          type: "DatabaseReady",
          status: databaseReady ? "True" : "False",
          reason: databaseReady ? "RoleReady" : "DatabaseFailed",
          message: "",
          lastTransitionTime: "2025-01-01T00:00:00Z",
        },
      ],
    },
  };
}

function setup(options: { tenant?: Tenant | null } = {}) {
  const kube = new MemoryKubernetes();
  const stores = memoryStores();
  const owner = options.tenant === undefined ? tenant(true) : options.tenant;
  const deps: AgentDeps = {
    kube,
    agents: stores.agentsPort,
    tenants: { byNamespace: (namespace) => (owner !== null && namespace === NAMESPACE ? owner : null) },
    log: createLogger({ name: "test", level: "silent" }),
  };
  const add = (name: string, spec: Partial<Agent["spec"]> = {}, namespace = NAMESPACE) => {
    const agent: Agent = {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Agent",
      metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
      spec: { displayName: name, model: "llama3.2:3b", ...spec },
    };
    kube.put("Agent", agent);
    return () => kube.get({ kind: "Agent", name, namespace }) ?? agent;
  };
  const ready = (agent: Agent) => agent.status?.conditions?.find((c) => c.type === "Ready");
  return { kube, stores, deps, add, ready };
}

describe("reconcileAgent", () => {
  it("writes the row and a Ready status with the row's id, then a second reconcile writes nothing", async () => {
    const { kube, stores, deps, add, ready } = setup();
    const ada = add("ada", { persona: "You help.", temperature: 0.3 });
    expect(await reconcileAgent(ada(), deps)).toEqual({});
    const row = stores.agents.get(`${TENANT_ID}/ada`);
    expect(row).toMatchObject({ systemPrompt: "You help.", temperature: 0.3, isDefault: false });
    expect(ada().status).toMatchObject({ agentId: row?.id, tenantId: TENANT_ID, observedGeneration: 1 });
    expect(ready(ada())).toMatchObject({ status: "True", reason: "Reconciled" });
    expect(ada().metadata.finalizers).toEqual([AGENT_FINALIZER]);
    expect(kube.events.map((e) => `${e.type} ${e.reason}`)).toEqual(["Normal Reconciled"]);

    stores.writes.length = 0;
    kube.writes.clear();
    await reconcileAgent(structuredClone(ada()), deps);
    expect(stores.writes).toEqual([]);
    expect([...kube.writes]).toEqual([]);
    expect(kube.events).toHaveLength(1);
  });

  it("reports a namespace of no Tenant, and a Tenant whose database is not ready, without writing a row", async () => {
    for (const [owner, reason] of [
      [null, "TenantNotFound"],
      [tenant(false), "TenantNotReady"],
    ] as const) {
      const { kube, stores, deps, add, ready } = setup({ tenant: owner });
      const lost = add("lost");
      expect(await reconcileAgent(lost(), deps)).toEqual({ requeue: true });
      expect(ready(lost())).toMatchObject({ status: "False", reason });
      expect(lost().metadata.finalizers).toBeUndefined();
      expect(stores.agents.size).toBe(0);
      expect(kube.events.map((e) => `${e.type} ${e.reason}`)).toEqual([`Warning ${reason}`]);
    }
  });

  it("stores a second default agent as an ordinary one and says which agent holds the default", async () => {
    const { stores, deps, add, ready } = setup();
    await reconcileAgent(add("ada", { default: true })(), deps);
    const bob = add("bob", { default: true });
    await reconcileAgent(bob(), deps);
    expect(ready(bob())).toMatchObject({ status: "False", reason: "DefaultConflict" });
    expect(ready(bob())?.message).toMatch(/ada is already the tenant's default/);
    expect(stores.agents.get(`${TENANT_ID}/bob`)?.isDefault).toBe(false);
    expect(bob().status?.agentId).toBe(stores.agents.get(`${TENANT_ID}/bob`)?.id);
  });

  it("turns a failing database into a condition and keeps the agent id it had", async () => {
    const { stores, deps, add, ready } = setup();
    const ada = add("ada");
    await reconcileAgent(ada(), deps);
    const agentId = ada().status?.agentId;
    stores.agentsPort.get = async () => {
      throw new Error("connect ECONNREFUSED");
    };
    await reconcileAgent(structuredClone(ada()), deps);
    expect(ready(ada())).toMatchObject({ status: "False", reason: "DatabaseFailed", message: "connect ECONNREFUSED" });
    expect(ada().status?.agentId).toBe(agentId);
  });

  it("on deletion drops the row and releases the finalizer; an Agent without the finalizer is left alone", async () => {
    const { kube, stores, deps, add } = setup();
    const ada = add("ada");
    await reconcileAgent(ada(), deps);
    await reconcileAgent(
      { ...structuredClone(ada()), metadata: { ...ada().metadata, deletionTimestamp: "2025-01-01T00:00:00Z" } },
      deps,
    );
    expect(stores.agents.size).toBe(0);
    expect(ada().metadata.finalizers).toEqual([]);

    kube.writes.clear();
    stores.writes.length = 0;
    await reconcileAgent(
      { ...structuredClone(ada()), metadata: { ...ada().metadata, deletionTimestamp: "2025-01-01T00:00:00Z" } },
      deps,
    );
    expect(stores.writes).toEqual([]);
    expect([...kube.writes]).toEqual([]);
  });

  it("writes AGENT_DEFAULTS into the row of an Agent that leaves its settings out", async () => {
    const { stores, deps, add } = setup();
    await reconcileAgent(add("plain")(), deps);
    const row = stores.agents.get(`${TENANT_ID}/plain`);
    expect({ temperature: row?.temperature, maxHistoryMessages: row?.maxHistoryMessages, default: row?.isDefault }).toEqual(
      AGENT_DEFAULTS,
    );
  });
});
