import { type ControlPlane, startControlPlane } from "@konstruct/control-plane";
import { crds, portalIdentity } from "@konstruct/operator";
import type { KubeClient } from "@konstruct/operator/runtime";
import { type ImpersonatingClient, type KubeAccess, KubeError, kubeAccess } from "@konstruct/portal";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, kubeClient } from "../operator/harness.ts";
import { createTestDatabase, type TestDatabase } from "../src/database.ts";
import { grantContractRbac, impersonationRights } from "./kube-support.ts";
import {
  addPerson,
  Browser,
  GATEWAY_URL,
  type PortalUnderTest,
  passwordHash,
  type SeededPortalTenant,
  seedPortalTenant,
  startPortal,
} from "./support.ts";

const API = "/apis/konstruct.io/v1alpha1";
const PORTAL_USER = "konstruct-portal-test";

let plane: ControlPlane;
let admin: KubeClient;
let database: TestDatabase;
let portal: PortalUnderTest;
let kube: KubeAccess;
let a: SeededPortalTenant;
let b: SeededPortalTenant;
let hash: string;

async function createTenantResource(tenant: SeededPortalTenant, webchatId: string): Promise<void> {
  await admin.request("POST", "/api/v1/namespaces", {
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: tenant.namespace } },
  });
  await admin.request("POST", `${API}/tenants`, {
    body: {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: tenant.name },
      spec: {
        displayName: `Tenant ${tenant.name}`,
        namespace: tenant.namespace,
        channels: [
          { name: "support-chat", type: "webchat", externalId: `wc-${tenant.name}`, allowedOrigins: ["https://www.example.com"] },
        ],
      },
    },
  });
  // What the operator would report.
  await admin.request("PATCH", `${API}/tenants/${tenant.name}/status`, {
    patch: "merge",
    body: {
      status: {
        tenantId: tenant.id,
        channels: [{ name: "support-chat", type: "webchat", ready: true, webhookPath: `/webchat/${webchatId}/` }],
      },
    },
  });
}

beforeAll(async () => {
  [plane, database, hash] = await Promise.all([startControlPlane(), createTestDatabase("kportalk"), passwordHash()]);
  admin = kubeClient(plane.adminKubeconfigPath);
  for (const crd of crds()) await admin.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", { body: crd });
  for (const crd of crds()) {
    await eventually(async () => {
      const c = await admin.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      );
      return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True");
    });
  }
  // Established is not the end: server-side apply needs the CRD's schema in the API server's
  // OpenAPI models, which it loads a moment later (until then an apply fails with a 500).
  await eventually(async () => {
    await admin.request("PATCH", `${API}/namespaces/default/agents/probe`, {
      patch: "apply",
      query: { fieldManager: "test", dryRun: "All" },
      body: {
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Agent",
        metadata: { name: "probe" },
        spec: { displayName: "P", model: "m" },
      },
    });
    return true;
  });
  a = await seedPortalTenant(database.admin, "ka", hash);
  b = await seedPortalTenant(database.admin, "kb", hash);
  await createTenantResource(a, "11111111-1111-4111-8111-111111111111");
  await createTenantResource(b, "22222222-2222-4222-8222-222222222222");
  const identities = [...(await grantContractRbac(admin, a)), ...(await grantContractRbac(admin, b))];
  await impersonationRights(admin, PORTAL_USER, identities);
  kube = await kubeAccess({ KUBECONFIG: await plane.writeKubeconfigFor(PORTAL_USER) });
  portal = await startPortal(database.app, kube);
}, 180_000);

afterAll(async () => {
  await portal?.close();
  await Promise.allSettled([plane?.stop(), database?.drop()]);
});

const agentBody = (displayName: string) => ({
  displayName,
  role: "Support engineer",
  instructions: "You help customers kindly.",
  model: "llama3.2:3b",
  fallbackModels: ["qwen2.5:0.5b"],
  temperature: 0.3,
  maxHistoryMessages: 12,
  default: true,
  channels: ["support-chat"],
});

describe("agents through the Kubernetes API as the person's role", () => {
  it("lets an owner create, see the operator's status of, edit and delete an agent by server-side apply", async () => {
    const owner = new Browser(portal.app);
    await owner.signIn(a.ownerEmail);
    const created = await owner.api("POST", "/portal/api/agents", { name: "ada", ...agentBody("Ada") });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: "ada", displayName: "Ada", ready: null, status: "Waiting for the operator" });
    const stored = await admin.request<{
      metadata: { generation: number; managedFields: { manager: string; operation: string }[] };
      spec: Record<string, unknown>;
    }>("GET", `${API}/namespaces/${a.namespace}/agents/ada`);
    expect(stored.metadata.managedFields.map((f) => [f.manager, f.operation])).toContainEqual(["konstruct-portal", "Apply"]);
    expect(stored.spec).toMatchObject({
      displayName: "Ada",
      persona: "You help customers kindly.",
      model: "llama3.2:3b",
      default: true,
    });
    expect((await owner.api("POST", "/portal/api/agents", { name: "ada", ...agentBody("Ada 2") })).statusCode).toBe(409);

    await admin.request("PATCH", `${API}/namespaces/${a.namespace}/agents/ada/status`, {
      patch: "merge",
      body: {
        status: {
          observedGeneration: stored.metadata.generation,
          conditions: [
            { type: "Ready", status: "True", reason: "Reconciled", message: "", lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
    });
    const listed = (await owner.api("GET", "/portal/api/agents")).json().agents;
    expect(listed).toEqual([expect.objectContaining({ name: "ada", ready: true, status: "Ready", channels: ["support-chat"] })]);

    const edited = await owner.api("PUT", "/portal/api/agents/ada", { ...agentBody("Ada Lovelace"), model: "qwen2.5:0.5b" });
    expect(edited.statusCode).toBe(200);
    const after = await admin.request<{ spec: Record<string, unknown> }>("GET", `${API}/namespaces/${a.namespace}/agents/ada`);
    expect(after.spec).toMatchObject({ displayName: "Ada Lovelace", model: "qwen2.5:0.5b" });

    const invalid = await owner.api("POST", "/portal/api/agents", { name: "Not A Name", ...agentBody("X") });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().fields.name).toBeDefined();

    expect((await owner.api("DELETE", "/portal/api/agents/ada")).statusCode).toBe(204);
    await expect(admin.request("GET", `${API}/namespaces/${a.namespace}/agents/ada`)).rejects.toMatchObject({ status: 404 });
  });

  it("creates an agent from the page's form", async () => {
    const owner = new Browser(portal.app);
    await owner.signIn(a.ownerEmail);
    const form = await owner.request({ method: "GET", url: "/portal/agents/new" });
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('<option value="llama3.2:3b">');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)?.[1] as string;
    const posted = await owner.request({
      method: "POST",
      url: "/portal/agents",
      payload: new URLSearchParams({
        _csrf: csrf,
        name: "grace",
        displayName: "Grace",
        model: "llama3.2:3b",
        channels: "",
      }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(posted.statusCode).toBe(303);
    expect(posted.headers.location).toBe("/portal/agents/grace");
    const page = await owner.request({ method: "GET", url: "/portal/agents/grace" });
    expect(page.body).toContain("Grace");
  });

  it("keeps members read-only, and a person of A gets 404 for B's agents", async () => {
    await admin.request("POST", `${API}/namespaces/${b.namespace}/agents`, {
      body: {
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Agent",
        metadata: { name: "bee", namespace: b.namespace },
        spec: { displayName: "Bee", model: "m" },
      },
    });
    const memberEmail = await addPerson(database.admin, a, "member", hash);
    const member = new Browser(portal.app);
    await member.signIn(memberEmail);
    expect((await member.api("GET", "/portal/api/agents")).statusCode).toBe(200);
    const refused = await member.api("POST", "/portal/api/agents", { name: "sneaky", ...agentBody("Sneaky") });
    expect(refused.statusCode).toBe(403);
    const owner = new Browser(portal.app);
    await owner.signIn(a.ownerEmail);
    for (const [method, url] of [
      ["GET", "/portal/api/agents/bee"],
      ["PUT", "/portal/api/agents/bee"],
      ["DELETE", "/portal/api/agents/bee"],
    ] as const) {
      const response = await owner.api(method, url, method === "PUT" ? agentBody("Mine now") : undefined);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await owner.request({ method: "GET", url: "/portal/agents/bee" })).statusCode).toBe(404);
    await admin.request("GET", `${API}/namespaces/${b.namespace}/agents/bee`);
  });

  it("is refused by the API server when the portal's own checks are bypassed", async () => {
    if (kube.mode !== "cluster") throw new Error("expected a cluster");
    const client: ImpersonatingClient = kube.client;
    const agent = (namespace: string) => ({
      body: {
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Agent",
        metadata: { name: "intruder", namespace },
        spec: { displayName: "I", model: "m" },
      },
    });
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => "accepted",
        (e: unknown) => (e instanceof KubeError ? e.status : e),
      );
    // A's owner identity writing into B's namespace, B's Tenant, or anything cluster-wide.
    expect(
      await refusal(
        client.request(portalIdentity(a.name, "owner"), "POST", `${API}/namespaces/${b.namespace}/agents`, agent(b.namespace)),
      ),
    ).toBe(403);
    expect(
      await refusal(
        client.request(portalIdentity(a.name, "owner"), "PATCH", `${API}/tenants/${b.name}`, {
          body: { spec: { channels: [{ name: "support-chat", allowedOrigins: ["https://evil.example"] }] } },
          patch: "merge",
        }),
      ),
    ).toBe(403);
    expect(await refusal(client.request(portalIdentity(a.name, "owner"), "GET", "/api/v1/namespaces/kube-system/secrets"))).toBe(
      403,
    );
    // A's member identity writing into A's own namespace.
    expect(
      await refusal(
        client.request(portalIdentity(a.name, "member"), "POST", `${API}/namespaces/${a.namespace}/agents`, agent(a.namespace)),
      ),
    ).toBe(403);
    // An identity outside the contract cannot be impersonated at all.
    expect(await refusal(client.request("system:admin", "GET", `${API}/namespaces/${b.namespace}/agents`))).toBe(403);
    expect(
      await refusal(client.request(`konstruct-portal:${b.name}-x:owner`, "GET", `${API}/namespaces/${b.namespace}/agents`)),
    ).toBe(403);
    // The portal's own identity, not impersonating, has no rights on agents either.
    const own = kubeClient(await plane.writeKubeconfigFor(PORTAL_USER));
    expect(
      await refusal(
        own
          .request("GET", `${API}/namespaces/${a.namespace}/agents`)
          .catch((e: { status?: number }) => Promise.reject(new KubeError(e.status ?? 0, "", ""))),
      ),
    ).toBe(403);
    await expect(admin.request("GET", `${API}/namespaces/${b.namespace}/agents/intruder`)).rejects.toMatchObject({ status: 404 });
  });
});

describe("channels", () => {
  it("shows each channel's state, chat link and embed snippet, and lets owners and admins edit allowed origins", async () => {
    const owner = new Browser(portal.app);
    await owner.signIn(a.ownerEmail);
    const channels = (await owner.api("GET", "/portal/api/channels")).json().channels;
    expect(channels).toEqual([
      expect.objectContaining({
        name: "support-chat",
        type: "webchat",
        ready: true,
        url: `${GATEWAY_URL}/webchat/11111111-1111-4111-8111-111111111111/`,
        allowedOrigins: ["https://www.example.com"],
        embedSnippet: expect.stringContaining("<iframe"),
      }),
    ]);
    const bad = await owner.api("PUT", "/portal/api/channels/support-chat/allowed-origins", {
      allowedOrigins: ["https://ok.example", "javascript:alert(1)"],
    });
    expect(bad.statusCode).toBe(400);
    const saved = await owner.api("PUT", "/portal/api/channels/support-chat/allowed-origins", {
      allowedOrigins: ["https://www.example.com", "https://shop.example.com"],
    });
    expect(saved.statusCode).toBe(200);
    const tenant = await admin.request<{ spec: { channels: { name: string; type: string; allowedOrigins: string[] }[] } }>(
      "GET",
      `${API}/tenants/${a.name}`,
    );
    expect(tenant.spec.channels).toEqual([
      expect.objectContaining({
        name: "support-chat",
        type: "webchat",
        allowedOrigins: ["https://www.example.com", "https://shop.example.com"],
      }),
    ]);
    expect((await owner.api("PUT", "/portal/api/channels/nope/allowed-origins", { allowedOrigins: [] })).statusCode).toBe(404);

    const member = new Browser(portal.app);
    await member.signIn(await addPerson(database.admin, a, "member", hash));
    expect((await member.api("GET", "/portal/api/channels")).statusCode).toBe(200);
    expect(
      (await member.api("PUT", "/portal/api/channels/support-chat/allowed-origins", { allowedOrigins: [] })).statusCode,
    ).toBe(403);
    const page = await member.request({ method: "GET", url: "/portal/channels" });
    expect(page.body).toContain("https://shop.example.com");
    expect(page.body).not.toContain("Save origins");
  });
});
