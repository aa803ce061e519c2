import { portalTokenDigest } from "@konstruct/core";
import {
  invitationSecretKey,
  invitationToken,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
  PORTAL_INVITATIONS_SECRET,
  PORTAL_TENANT_POLICY,
  portalIdentity,
  portalTenantClusterRole,
  portalTenantPolicy,
} from "@konstruct/operator";
import type { KubeClient, RunningOperator } from "@konstruct/operator/runtime";
import { type ControlPlane, createTestDatabase, startControlPlane, type TestDatabase } from "@konstruct/testkit";
import { type Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseValues } from "../../charts/lib/values.ts";
import { eventually } from "../operator/harness.ts";
import { applyInstall, kubeClient as client, operatorKubeconfig, runChartOperator } from "./support.ts";

// The portal's side of the Kubernetes API, on a real kube-apiserver with the synthesized
// install: the operator runs with only its ServiceAccount's rights, and "the portal" is a
// client with only the portal ServiceAccount's rights that impersonates a tenant's identity,
// exactly as services/portal does. RBAC and the admission policy, not the portal's code, keep
// each identity inside its tenant.

type Obj = Record<string, any>;
const values = parseValues({});
const NS = values.namespace;
const PUBLIC_URL = "https://portal.konstruct.test";
const OPERATOR_SA = `system:serviceaccount:${NS}:konstruct-operator`;
const PORTAL_SA = `system:serviceaccount:${NS}:${values.operator.portalServiceAccount}`;
const TENANTS = "/apis/konstruct.io/v1alpha1/tenants";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const ADMISSION = "/apis/admissionregistration.k8s.io/v1";

let plane: ControlPlane;
let database: TestDatabase;
let db: Kysely<any>;
let admin: KubeClient;
let portalKubeconfig: string;
let operator: (RunningOperator & { close(): Promise<void> }) | undefined;

/** The portal ServiceAccount acting as `user` (and, when given, `group`). */
function as(user: string, group?: string): KubeClient {
  return client(portalKubeconfig, { "Impersonate-User": user, ...(group ? { "Impersonate-Group": group } : {}) });
}

async function status(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    return (error as { status?: number }).status ?? -1;
  }
}

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    return `${(error as { status?: number }).status} ${(error as Error).message}`;
  }
  return "accepted";
}

const apply = (c: KubeClient, path: string, body: Obj, manager = "konstruct-portal") =>
  c.request("PATCH", path, { body, patch: "apply", query: { fieldManager: manager, force: "true" } });

const agentPath = (namespace: string, name: string) => `/apis/konstruct.io/v1alpha1/namespaces/${namespace}/agents/${name}`;
const agent = (namespace: string, name: string) => ({
  apiVersion: "konstruct.io/v1alpha1",
  kind: "Agent",
  metadata: { name, namespace },
  spec: { displayName: "Ada", role: "Support", persona: "Kind and brief.", model: "llama3.2:3b" },
});

function tenant(name: string, owners: string[]): Obj {
  return {
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Tenant",
    metadata: { name },
    spec: {
      displayName: `Tenant ${name}`,
      reclaimPolicy: "Delete",
      limits: { messagesPerMinute: 60 },
      owners: owners.map((email) => ({ email })),
      channels: [{ name: "chat", type: "webchat", externalId: `${name}-chat`, allowedOrigins: [`https://${name}.example`] }],
    },
  };
}

async function readyTenant(name: string): Promise<Obj> {
  return eventually(
    async () => {
      const t = await admin.request<Obj>("GET", `${TENANTS}/${name}`);
      const ready = t.status?.conditions?.find((c: Obj) => c.type === "Ready");
      return ready?.status === "True" && t.status.observedGeneration === t.metadata.generation ? t : undefined;
    },
    30_000,
    `Tenant ${name} Ready`,
  );
}

async function links(namespace: string): Promise<Record<string, string>> {
  const s = await admin.request<Obj>("GET", `/api/v1/namespaces/${namespace}/secrets/${PORTAL_INVITATIONS_SECRET}`);
  return Object.fromEntries(
    Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v as string, "base64").toString("utf8")]),
  );
}

/** What the portal's lookup finds for a link: the invitation whose digest is its token's, if any. */
async function lookup(link: string | undefined): Promise<Obj | undefined> {
  const token = invitationToken(link ?? "") ?? "not-a-token";
  const { rows } = await sql<Obj>`select * from konstruct_portal_invitation(${portalTokenDigest(token)})`.execute(db);
  return rows[0];
}

beforeAll(async () => {
  [plane, database] = await Promise.all([startControlPlane(), createTestDatabase("kpa")]);
  db = database.admin;
  admin = client(plane.adminKubeconfigPath);
  await applyInstall(plane, values, "test");
  portalKubeconfig = await plane.writeKubeconfigFor(PORTAL_SA, ["system:serviceaccounts", `system:serviceaccounts:${NS}`]);
  operator = await runChartOperator(database, values, {
    kubeconfig: await operatorKubeconfig(plane, values),
    logName: "operator-portal-test",
    // Short, so an expired invitation is noticed within the test.
    resyncIntervalMs: 2_000,
    portal: { publicUrl: PUBLIC_URL, serviceAccount: { namespace: NS, name: values.operator.portalServiceAccount } },
  });
  for (const t of [tenant("alpha", ["ada@alpha.example", "Bob.Ops+1@alpha.example"]), tenant("bravo", ["cy@bravo.example"])])
    await admin.request("POST", TENANTS, { body: t });
  await Promise.all([readyTenant("alpha"), readyTenant("bravo")]);
});

afterAll(async () => {
  await operator?.close();
  await Promise.allSettled([plane?.stop(), database?.drop()]);
});

describe("first owners' invitations", () => {
  it("creates one invitation per owner, whose link in the Tenant's Secret finds it only by its exact token", async () => {
    const alpha = await links("konstruct-alpha");
    expect(Object.keys(alpha).sort()).toEqual(["Bob.Ops_1_at_alpha.example", "ada_at_alpha.example"]);
    const link = alpha[invitationSecretKey("ada@alpha.example")] as string;
    expect(link.startsWith(`${PUBLIC_URL}/portal/invitations/`)).toBe(true);
    const found = await lookup(link);
    expect(found).toMatchObject({ email: "ada@alpha.example", role: "owner", accepted_at: null });
    const days = (new Date(found?.expires_at).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7);
    // One character off, or another tenant's link for the same path: nothing.
    const token = invitationToken(link) as string;
    expect(await lookup(link.replace(token, `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`))).toBeUndefined();
    const { rows } = await sql<Obj>`select count(*)::int as n from portal_invitations where invited_by is null`.execute(db);
    expect(rows[0]?.n).toBe(3);

    const condition = (await admin.request<Obj>("GET", `${TENANTS}/alpha`)).status.conditions.find(
      (c: Obj) => c.type === "OwnersInvited",
    );
    expect(condition).toMatchObject({ status: "True", message: expect.stringMatching(/^2 owner\(s\): 0 joined, 2 invited/) });

    const secret = await admin.request<Obj>("GET", `/api/v1/namespaces/konstruct-alpha/secrets/${PORTAL_INVITATIONS_SECRET}`);
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ apiVersion: "konstruct.io/v1alpha1", kind: "Tenant", name: "alpha" }),
    ]);
    // Several resyncs (every 2 s) later: the same Secret, the same rows.
    await new Promise((r) => setTimeout(r, 5_000));
    const again = await admin.request<Obj>("GET", `/api/v1/namespaces/konstruct-alpha/secrets/${PORTAL_INVITATIONS_SECRET}`);
    expect(again.metadata.resourceVersion).toBe(secret.metadata.resourceVersion);
    const after = await sql<Obj>`select count(*)::int as n from portal_invitations`.execute(db);
    expect(after.rows[0]?.n).toBe(3);
  });

  it("refuses, in the API server, an owner that is no email or listed twice in another letter case", async () => {
    for (const [owners, message] of [
      [[{ email: "not-an-email" }], /spec\.owners\[0\]\.email: Invalid value/],
      [[{ email: "ada@alpha.example" }, { email: "Ada@Alpha.example" }], /owners must differ in more than letter case/],
    ] as const) {
      const answer = await refusal(
        admin.request("POST", TENANTS, {
          query: { dryRun: "All" },
          body: { ...tenant("charlie", []), spec: { ...tenant("charlie", []).spec, owners } },
        }),
      );
      expect(answer).toMatch(message);
    }
  });

  it("re-issues an expired invitation: a new link in the Secret, and the old one no longer works", async () => {
    const before = (await links("konstruct-bravo"))["cy_at_bravo.example"] as string;
    await sql`update portal_invitations set expires_at = now() - interval '1 second' where email = 'cy@bravo.example'`.execute(
      db,
    );
    const after = await eventually(
      async () => {
        const link = (await links("konstruct-bravo"))["cy_at_bravo.example"];
        return link !== before ? link : undefined;
      },
      30_000,
      "a new link for cy",
    );
    const found = await lookup(after);
    expect(found).toMatchObject({ email: "cy@bravo.example", role: "owner" });
    expect(new Date(found?.expires_at).getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    const old = await lookup(before);
    expect(new Date(old?.expires_at).getTime()).toBeLessThan(Date.now());
  });

  it("removes the key of an owner who accepted, and counts them as joined", async () => {
    const link = (await links("konstruct-alpha"))["ada_at_alpha.example"];
    const invitation = await lookup(link);
    // What the portal does when Ada sets her password: one transaction, user and accepted invitation.
    await db.transaction().execute(async (trx) => {
      const user = await sql<Obj>`insert into portal_users (tenant_id, email, password_hash, role)
        values (${invitation?.tenant_id}, 'ada@alpha.example', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', 'owner')
        returning id`.execute(trx);
      await sql`update portal_invitations set accepted_at = now(), accepted_by = ${user.rows[0]?.id}
        where id = ${invitation?.invitation_id}`.execute(trx);
    });
    await eventually(async () => !("ada_at_alpha.example" in (await links("konstruct-alpha"))), 30_000, "Ada's key removed");
    expect(Object.keys(await links("konstruct-alpha"))).toEqual(["Bob.Ops_1_at_alpha.example"]);
    await eventually(
      async () => {
        const t = await admin.request<Obj>("GET", `${TENANTS}/alpha`);
        return t.status.conditions
          .find((c: Obj) => c.type === "OwnersInvited")
          ?.message.startsWith("2 owner(s): 1 joined, 1 invited");
      },
      30_000,
      "OwnersInvited to count Ada as joined",
    );
  });
});

describe("the portal acting as a tenant's people", () => {
  it("lets alpha's owner and admin apply Agents in alpha's namespace, and its member only read them", async () => {
    for (const role of ["owner", "admin"] as const) {
      const c = as(portalIdentity("alpha", role));
      await apply(c, agentPath("konstruct-alpha", `by-${role}`), agent("konstruct-alpha", `by-${role}`));
      expect(await status(c.request("GET", agentPath("konstruct-alpha", `by-${role}`)))).toBe(200);
    }
    const member = as(portalIdentity("alpha", "member"));
    expect(await status(member.request("GET", "/apis/konstruct.io/v1alpha1/namespaces/konstruct-alpha/agents"))).toBe(200);
    expect(await status(apply(member, agentPath("konstruct-alpha", "by-member"), agent("konstruct-alpha", "by-member")))).toBe(
      403,
    );
    expect(await status(member.request("DELETE", agentPath("konstruct-alpha", "by-owner")))).toBe(403);
    expect(await status(member.request("GET", `${TENANTS}/alpha`))).toBe(200);
    expect(
      await status(
        apply(member, `${TENANTS}/alpha`, { apiVersion: "konstruct.io/v1alpha1", kind: "Tenant", metadata: { name: "alpha" } }),
      ),
    ).toBe(403);
  });

  it("refuses alpha's owner bravo's namespace, bravo's Tenant, and every Secret", async () => {
    const owner = as(portalIdentity("alpha", "owner"));
    expect(await status(apply(owner, agentPath("konstruct-bravo", "intruder"), agent("konstruct-bravo", "intruder")))).toBe(403);
    expect(await status(owner.request("GET", "/apis/konstruct.io/v1alpha1/namespaces/konstruct-bravo/agents"))).toBe(403);
    expect(await status(owner.request("GET", `${TENANTS}/bravo`))).toBe(403);
    expect(await status(owner.request("GET", TENANTS))).toBe(403);
    expect(
      await status(
        apply(owner, `${TENANTS}/bravo`, {
          apiVersion: "konstruct.io/v1alpha1",
          kind: "Tenant",
          metadata: { name: "bravo" },
          spec: { limits: { messagesPerMinute: 1 } },
        }),
      ),
    ).toBe(403);
    for (const path of [
      "/api/v1/namespaces/konstruct-alpha/secrets",
      `/api/v1/namespaces/konstruct-alpha/secrets/${PORTAL_INVITATIONS_SECRET}`,
      "/api/v1/namespaces/konstruct-alpha/secrets/konstruct-database",
      "/api/v1/secrets",
    ]) {
      expect(await status(owner.request("GET", path)), path).toBe(403);
    }
    expect(await status(owner.request("DELETE", `${TENANTS}/alpha`))).toBe(403);
  });

  it("lets alpha's admin change allowed origins and nothing else of alpha's Tenant (the admission policy's doing)", async () => {
    const admin_ = as(portalIdentity("alpha", "admin"));
    const origins = ["https://alpha.example", "https://shop.alpha.example"];
    await apply(admin_, `${TENANTS}/alpha`, {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "alpha" },
      spec: { channels: [{ name: "chat", allowedOrigins: origins }] },
    });
    const t = await admin.request<Obj>("GET", `${TENANTS}/alpha`);
    expect(t.spec.channels[0].allowedOrigins).toEqual(origins);
    expect(t.spec.channels[0].type).toBe("webchat");

    for (const [what, spec] of [
      ["limits", { limits: { messagesPerMinute: 100000 } }],
      ["owners", { owners: [{ email: "mallory@evil.example" }] }],
      ["admins", { admins: [{ kind: "User", name: "mallory" }] }],
      ["displayName", { displayName: "Pwned" }],
      ["channel id", { channels: [{ name: "chat", externalId: "bravo-chat" }] }],
      ["channel Secret", { channels: [{ name: "chat", credentialsSecretRef: { name: "konstruct-database" } }] }],
      ["a new channel", { channels: [{ name: "other", type: "webchat", externalId: "alpha-other" }] }],
    ] as const) {
      const answer = await refusal(
        apply(admin_, `${TENANTS}/alpha`, {
          apiVersion: "konstruct.io/v1alpha1",
          kind: "Tenant",
          metadata: { name: "alpha" },
          spec,
        }),
      );
      expect(answer, what).toMatch(/^403 .*ValidatingAdmissionPolicy .*may change only spec\.channels\[\*\]\.allowedOrigins/s);
    }
    const labels = await refusal(
      apply(admin_, `${TENANTS}/alpha`, {
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Tenant",
        metadata: { name: "alpha", labels: { x: "y" }, finalizers: ["example.com/hold"] },
      }),
    );
    expect(labels).toMatch(/labels, annotations, finalizers/);
    const unchanged = await admin.request<Obj>("GET", `${TENANTS}/alpha`);
    expect(unchanged.spec.limits.messagesPerMinute).toBe(60);
    expect(unchanged.spec.owners).toHaveLength(2);
  });

  it("lets alpha's member read alpha's Tenant and change nothing of it, allowed origins included", async () => {
    const member = as(portalIdentity("alpha", "member"));
    expect(await status(member.request("GET", `${TENANTS}/alpha`))).toBe(200);
    const answer = await refusal(
      apply(member, `${TENANTS}/alpha`, {
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Tenant",
        metadata: { name: "alpha" },
        spec: { channels: [{ name: "chat", allowedOrigins: ["https://member.example"] }] },
      }),
    );
    expect(answer).toMatch(/^403 .*only a portal owner or admin may change a Tenant/s);
    const t = await admin.request<Obj>("GET", `${TENANTS}/alpha`);
    expect(t.spec.channels[0].allowedOrigins ?? []).not.toContain("https://member.example");
  });

  it("without the admission policy's binding, RBAC alone would let the limits change through", async () => {
    const owner = as(portalIdentity("alpha", "owner"));
    // A new value each time: an apply that changes nothing is nothing to refuse.
    let limit = 99_000;
    const raise = () =>
      apply(owner, `${TENANTS}/alpha`, {
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Tenant",
        metadata: { name: "alpha" },
        spec: { limits: { messagesPerMinute: ++limit } },
      });
    const binding = portalTenantPolicy().find((o) => o.kind === "ValidatingAdmissionPolicyBinding");
    await admin.request("DELETE", `${ADMISSION}/validatingadmissionpolicybindings/${PORTAL_TENANT_POLICY}`);
    try {
      await eventually(async () => (await status(raise())) === 200, 30_000, "the limits change to pass without the policy");
      expect((await admin.request<Obj>("GET", `${TENANTS}/alpha`)).spec.limits.messagesPerMinute).toBe(limit);
    } finally {
      await admin.request("POST", `${ADMISSION}/validatingadmissionpolicybindings`, {
        body: binding,
      });
      await admin.request("PATCH", `${TENANTS}/alpha`, { patch: "merge", body: { spec: { limits: { messagesPerMinute: 60 } } } });
    }
    let last = "";
    await eventually(
      async () => {
        last = await refusal(raise());
        return /ValidatingAdmissionPolicy/.test(last);
      },
      30_000,
      "the policy to refuse again",
    ).catch((e) => {
      throw new Error(`${e.message}: ${last}`);
    });
  });
});

describe("what the portal's ServiceAccount may impersonate", () => {
  it("only the identities of Tenants that exist: not system:admin, not system:masters, not a made-up tenant", async () => {
    const role = await admin.request<Obj>("GET", `${RBAC}/clusterroles/${PORTAL_IMPERSONATION_CLUSTER_ROLE}`);
    expect(role.rules).toEqual([
      {
        apiGroups: [""],
        resources: ["users"],
        verbs: ["impersonate"],
        resourceNames: ["alpha", "bravo"].flatMap((t) => ["admin", "member", "owner"].map((r) => `konstruct-portal:${t}:${r}`)),
      },
    ]);
    const who = (c: KubeClient) =>
      c.request<Obj>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
    expect((await who(as(portalIdentity("alpha", "owner")))).status.userInfo.username).toBe("konstruct-portal:alpha:owner");
    for (const [what, c] of [
      ["system:admin", as("system:admin")],
      ["the operator", as(OPERATOR_SA)],
      ["a tenant that does not exist", as("konstruct-portal:nobody:owner")],
      ["an identity that is not a role", as("konstruct-portal:alpha:root")],
      ["the system:masters group", as(portalIdentity("alpha", "owner"), "system:masters")],
    ] as const) {
      expect(await status(who(c)), what).toBe(403);
      expect(await status(c.request("GET", "/api/v1/namespaces/konstruct-alpha/secrets")), what).toBe(403);
    }
    // Without impersonating, the portal's ServiceAccount itself reads no Tenant, Agent or Secret.
    const portal = client(portalKubeconfig);
    for (const path of [
      TENANTS,
      "/apis/konstruct.io/v1alpha1/namespaces/konstruct-alpha/agents",
      "/api/v1/namespaces/konstruct-alpha/secrets",
    ])
      expect(await status(portal.request("GET", path)), path).toBe(403);
  });

  it("refuses, even to a cluster admin, an impersonation grant beyond portal identities or a binding of it to anyone else", async () => {
    const role = await admin.request<Obj>("GET", `${RBAC}/clusterroles/${PORTAL_IMPERSONATION_CLUSTER_ROLE}`);
    const widened = await refusal(
      admin.request("PUT", `${RBAC}/clusterroles/${PORTAL_IMPERSONATION_CLUSTER_ROLE}`, {
        body: { ...role, rules: [...role.rules, { apiGroups: [""], resources: ["users", "groups"], verbs: ["impersonate"] }] },
      }),
    );
    expect(widened).toMatch(/may hold only impersonate on users named/);
    const rebound = await refusal(
      admin.request("POST", `${RBAC}/clusterrolebindings`, {
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: "steal-impersonation" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: PORTAL_IMPERSONATION_CLUSTER_ROLE },
          subjects: [{ kind: "ServiceAccount", name: "konstruct-operator", namespace: NS }],
        },
      }),
    );
    expect(rebound).toMatch(/only the ClusterRoleBinding konstruct-portal-impersonation/);
  });
});

describe("a Tenant's portal RBAC lives and dies with it", () => {
  it("removes the editor and viewer ClusterRoles and bindings an older operator made per Tenant", async () => {
    // Earlier versions kept two of each per Tenant; every ClusterRoleBinding slows every request.
    const labels = { "app.kubernetes.io/managed-by": "konstruct-operator", "konstruct.io/tenant": "alpha" };
    const legacy = ["editor", "viewer"].map((access) => `konstruct-portal:alpha:${access}`);
    for (const name of legacy) {
      await admin.request("POST", `${RBAC}/clusterroles`, {
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name, labels },
          rules: [{ apiGroups: ["konstruct.io"], resources: ["tenants"], verbs: ["get"], resourceNames: ["alpha"] }],
        },
      });
      await admin.request("POST", `${RBAC}/clusterrolebindings`, {
        body: {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name, labels },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: portalIdentity("alpha", "member") }],
        },
      });
    }
    await eventually(
      async () => {
        for (const name of legacy)
          for (const kind of ["clusterroles", "clusterrolebindings"])
            if ((await status(admin.request("GET", `${RBAC}/${kind}/${name}`))) !== 404) return false;
        return true;
      },
      15_000,
      "legacy per-Tenant objects removed",
    );
  });

  it("creates the per-Tenant objects, and deleting the Tenant removes them and its identities from the grant", async () => {
    const paths = [
      `${RBAC}/clusterroles/${portalTenantClusterRole("bravo")}`,
      `${RBAC}/clusterrolebindings/${portalTenantClusterRole("bravo")}`,
      `${RBAC}/namespaces/konstruct-bravo/rolebindings/konstruct-portal-editors`,
      `${RBAC}/namespaces/konstruct-bravo/rolebindings/konstruct-portal-viewers`,
    ];
    for (const path of paths) expect(await status(admin.request("GET", path)), path).toBe(200);
    const editors = await admin.request<Obj>("GET", paths[2] as string);
    expect(editors.subjects.map((s: Obj) => s.name)).toEqual(["konstruct-portal:bravo:owner", "konstruct-portal:bravo:admin"]);
    expect(editors.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Tenant", name: "bravo" });
    expect(await status(as(portalIdentity("bravo", "owner")).request("GET", `${TENANTS}/bravo`))).toBe(200);

    await admin.request("DELETE", `${TENANTS}/bravo`);
    await eventually(async () => (await status(admin.request("GET", `${TENANTS}/bravo`))) === 404, 30_000, "Tenant bravo gone");
    for (const path of paths.slice(0, 4)) expect(await status(admin.request("GET", path)), path).toBe(404);
    const role = await admin.request<Obj>("GET", `${RBAC}/clusterroles/${PORTAL_IMPERSONATION_CLUSTER_ROLE}`);
    expect(role.rules[0].resourceNames.some((n: string) => n.includes(":bravo:"))).toBe(false);
    expect(await status(as(portalIdentity("bravo", "owner")).request("GET", `${TENANTS}/bravo`))).toBe(403);
  });
});
