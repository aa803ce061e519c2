import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  type OperatorEnvironment,
  runOperator,
  startEnvironment,
  TENANTS,
  tenantManifest,
  waitReady,
} from "./harness.ts";

let env: OperatorEnvironment;
let operator: Awaited<ReturnType<typeof runOperator>>;
let tenantId: string;

const agents = (namespace: string) => `/apis/konstruct.io/v1alpha1/namespaces/${namespace}/agents`;

interface AgentObject {
  status?: { agentId?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

function agentManifest(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Agent",
    metadata: { name },
    spec: { displayName: name, model: "llama3.2:3b", ...spec },
  };
}

async function waitAgent(namespace: string, name: string, predicate: (a: AgentObject) => boolean): Promise<AgentObject> {
  return eventually(
    async () => {
      const a = await env.admin.request<AgentObject>("GET", `${agents(namespace)}/${name}`);
      return predicate(a) ? a : undefined;
    },
    20_000,
    `Agent ${namespace}/${name}`,
  );
}

const ready = (a: AgentObject) => a.status?.conditions?.find((c) => c.type === "Ready");

beforeAll(async () => {
  env = await startEnvironment();
  operator = await runOperator(env, { resyncIntervalMs: 2_000 });
  await env.admin.request("POST", TENANTS, { body: tenantManifest("agents", { reclaimPolicy: "Delete" }) });
  tenantId = (await waitReady(env.admin, "agents")).status?.tenantId as string;
});

afterAll(async () => {
  await operator?.close();
  await env?.stop();
});

describe("Agent reconcile", () => {
  it("upserts the agent row for the tenant that owns the namespace, and follows spec changes", async () => {
    await env.admin.request("POST", agents("konstruct-agents"), {
      body: agentManifest("ada", { role: "Support", persona: "You help.", default: true, temperature: 0.3, channels: ["slack"] }),
    });
    const a = await waitAgent("konstruct-agents", "ada", (x) => ready(x)?.status === "True");
    const row = await env.db
      .selectFrom("agents")
      .selectAll()
      .where("id", "=", a.status?.agentId as string)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      tenant_id: tenantId,
      name: "ada",
      role: "Support",
      system_prompt: "You help.",
      is_default: true,
      channels: ["slack"],
    });
    await env.admin.request("PATCH", `${agents("konstruct-agents")}/ada`, {
      patch: "merge",
      body: { spec: { model: "qwen2.5:7b" } },
    });
    await eventually(
      async () =>
        (await env.db.selectFrom("agents").select("model").where("name", "=", "ada").executeTakeFirst())?.model === "qwen2.5:7b",
    );
  });

  it("reports a second default agent with a clear condition, and hands over when the first is deleted", async () => {
    await env.admin.request("POST", agents("konstruct-agents"), { body: agentManifest("bob", { default: true }) });
    const bob = await waitAgent("konstruct-agents", "bob", (x) => ready(x)?.reason === "DefaultConflict");
    expect(ready(bob)?.message).toMatch(/ada is already the tenant's default/);
    await env.admin.request("DELETE", `${agents("konstruct-agents")}/ada`);
    await eventually(
      async () => (await env.db.selectFrom("agents").select("name").where("name", "=", "ada").execute()).length === 0,
      20_000,
      "ada's row gone",
    );
    await waitAgent("konstruct-agents", "bob", (x) => ready(x)?.status === "True");
    const defaults = await env.db
      .selectFrom("agents")
      .select("name")
      .where("tenant_id", "=", tenantId)
      .where("is_default", "=", true)
      .execute();
    expect(defaults).toEqual([{ name: "bob" }]);
  });

  it("gives an Agent in a namespace of no Tenant a clear condition", async () => {
    await env.admin.request("POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "stray" } },
    });
    await env.admin.request("POST", agents("stray"), { body: agentManifest("lost") });
    const lost = await waitAgent("stray", "lost", (x) => ready(x)?.reason === "TenantNotFound");
    expect(ready(lost)?.message).toMatch(/namespace stray belongs to no Tenant/);
  });
});
