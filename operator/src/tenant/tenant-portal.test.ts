import { portalTokenDigest } from "@konstruct/core";
import { describe, expect, it, vi } from "vitest";
import {
  invitationSecretKey,
  invitationToken,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
  PORTAL_INVITATIONS_SECRET,
  portalIdentities,
  portalImpersonationRules,
} from "../api/portal.ts";
import type { Tenant } from "../api/tenant.ts";
import { MemoryKubernetes } from "../local/memory-kubernetes.ts";
import type { ObjectRef, RbacObject } from "../ports.ts";
import { memoryStores, memoryTenantDeps } from "../testing/fakes.ts";
import { reconcileTenant } from "./tenant-controller.ts";
import { syncPortalImpersonation } from "./tenant-portal-access.ts";

const TENANT_ID = "7d1c1e8e-4d5f-4a55-9a3c-0a5b1c2d3e4f";
const NS = "konstruct-acme";

function setup(owners: string[]) {
  const kube = new MemoryKubernetes();
  const stores = memoryStores();
  const tenant: Tenant = {
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Tenant",
    metadata: { name: "acme", uid: TENANT_ID, generation: 1 },
    spec: { displayName: "Acme", reclaimPolicy: "Retain", owners: owners.map((email) => ({ email })) },
  };
  kube.put("Tenant", tenant);
  const current = () => kube.get({ kind: "Tenant", name: "acme" }) ?? tenant;
  const deps = memoryTenantDeps(kube, stores, () => [current()], {
    portal: { publicUrl: "https://k.example/", serviceAccount: { namespace: "konstruct-system", name: "konstruct-portal" } },
  });
  const links = async () => (await kube.getSecret(NS, PORTAL_INVITATIONS_SECRET)) ?? {};
  const condition = (type: string) => current().status?.conditions?.find((c) => c.type === type);
  const reconcile = () => reconcileTenant(structuredClone(current()), deps);
  return { kube, stores, deps, current, links, condition, reconcile };
}

describe("first owners' invitations", () => {
  it("invites each owner once, with a link whose token's digest is the row's, then a resync writes nothing", async () => {
    const t = setup(["Ada@acme.example", "bob+ops@acme.example"]);
    await t.reconcile();
    const links = await t.links();
    expect(Object.keys(links).sort()).toEqual(["Ada_at_acme.example", "bob_ops_at_acme.example"]);
    const link = links[invitationSecretKey("Ada@acme.example")] as string;
    expect(link).toMatch(/^https:\/\/k\.example\/portal\/invitations\/[A-Za-z0-9_-]{43}$/);
    const row = [...t.stores.invitations.values()].find((i) => i.email === "Ada@acme.example");
    expect(row?.tokenHash.equals(portalTokenDigest(invitationToken(link) as string))).toBe(true);
    expect(t.stores.invitations.size).toBe(2);
    expect(t.condition("OwnersInvited")).toMatchObject({
      status: "True",
      message: expect.stringMatching(/2 owner\(s\): 0 joined, 2 invited/),
    });
    // The Secret goes with its Tenant.
    expect(t.kube.owners.get(`Secret/${NS}/${PORTAL_INVITATIONS_SECRET}`)).toMatchObject({ kind: "Tenant", uid: TENANT_ID });

    t.stores.writes.length = 0;
    t.kube.writes.clear();
    await t.reconcile();
    expect(t.stores.writes).toEqual([]);
    expect([...t.kube.writes]).toEqual([]);
  });

  it("removes the key of an owner who joined, and counts them", async () => {
    const t = setup(["ada@acme.example", "bob@acme.example"]);
    await t.reconcile();
    for (const i of t.stores.invitations.values()) if (i.email === "ada@acme.example") i.acceptedAt = Date.now();
    t.stores.portalUsers.push({ tenantId: TENANT_ID, email: "ADA@acme.example" });
    await t.reconcile();
    expect(Object.keys(await t.links())).toEqual(["bob_at_acme.example"]);
    expect(t.stores.invitations.size).toBe(2);
    expect(t.condition("OwnersInvited")?.message).toMatch(/2 owner\(s\): 1 joined, 1 invited/);
  });

  it("re-issues an expired invitation with a new link", async () => {
    const t = setup(["ada@acme.example"]);
    await t.reconcile();
    const before = (await t.links())["ada_at_acme.example"];
    t.stores.clock.now += 8 * 86_400_000;
    await t.reconcile();
    const after = (await t.links())["ada_at_acme.example"];
    expect(after).not.toBe(before);
    expect(t.stores.invitations.size).toBe(2);
  });

  it("re-issues a link lost from the Secret and expires the one it replaces", async () => {
    const t = setup(["ada@acme.example"]);
    await t.reconcile();
    await t.kube.applySecret(NS, PORTAL_INVITATIONS_SECRET, {
      "ada_at_acme.example": "https://k.example/portal/invitations/forged",
    });
    await t.reconcile();
    const link = (await t.links())["ada_at_acme.example"] as string;
    const live = (await t.stores.invitationsPort.state(TENANT_ID, [])).live;
    expect(live).toHaveLength(1);
    expect(live[0]?.tokenHash.equals(portalTokenDigest(invitationToken(link) as string))).toBe(true);
  });

  it("withdraws the invitation of an owner removed from the list", async () => {
    const t = setup(["ada@acme.example"]);
    await t.reconcile();
    const tenant = t.current();
    tenant.spec.owners = [];
    await t.reconcile();
    expect(await t.links()).toEqual({});
    expect((await t.stores.invitationsPort.state(TENANT_ID, [])).live).toEqual([]);
  });

  it("invites only the first of two emails that would share a Secret key, says so, and stays still on resync", async () => {
    const t = setup(["a+b@acme.example", "a_b@acme.example"]);
    await t.reconcile();
    expect(t.condition("OwnersInvited")).toMatchObject({ status: "False", reason: "OwnerKeyClash" });
    expect(t.stores.invitations.size).toBe(1);
    t.stores.writes.length = 0;
    await t.reconcile();
    expect(t.stores.writes).toEqual([]);
  });

  it("does not invite an email that signs in to another tenant, and says so", async () => {
    const t = setup(["ada@acme.example"]);
    t.stores.portalUsers.push({ tenantId: "0b1c1e8e-4d5f-4a55-9a3c-0a5b1c2d3e40", email: "ada@acme.example" });
    await t.reconcile();
    expect(t.stores.invitations.size).toBe(0);
    expect(t.condition("OwnersInvited")).toMatchObject({ status: "False", reason: "OwnerEmailTaken" });
  });
});

describe("portal access", () => {
  it("grants the three identities their rights and the portal the right to impersonate exactly them; deletion takes both away", async () => {
    const t = setup([]);
    await t.reconcile();
    expect(t.condition("PortalAccessReady")?.status).toBe("True");
    const keys = [...t.kube.rbac.keys()].sort();
    expect(keys).toEqual(
      [
        `ClusterRole//${PORTAL_IMPERSONATION_CLUSTER_ROLE}`,
        `ClusterRoleBinding//${PORTAL_IMPERSONATION_CLUSTER_ROLE}`,
        "ClusterRole//konstruct-portal:acme",
        "ClusterRoleBinding//konstruct-portal:acme",
        `RoleBinding/${NS}/konstruct-portal-editors`,
        `RoleBinding/${NS}/konstruct-portal-viewers`,
      ].sort(),
    );
    const impersonation = await t.kube.getRbac("ClusterRole", PORTAL_IMPERSONATION_CLUSTER_ROLE);
    expect(impersonation?.rules).toEqual([
      {
        apiGroups: [""],
        resources: ["users"],
        verbs: ["impersonate"],
        resourceNames: ["konstruct-portal:acme:admin", "konstruct-portal:acme:member", "konstruct-portal:acme:owner"],
      },
    ]);
    expect((await t.kube.getRbac("ClusterRole", "konstruct-portal:acme"))?.rules).toEqual([
      { apiGroups: ["konstruct.io"], resources: ["tenants"], verbs: ["get", "patch"], resourceNames: ["acme"] },
    ]);
    // One binding per Tenant for all three: the admission policy keeps members from patching.
    expect((await t.kube.getRbac("ClusterRoleBinding", "konstruct-portal:acme"))?.subjects?.map((s) => s.name)).toEqual([
      "konstruct-portal:acme:owner",
      "konstruct-portal:acme:admin",
      "konstruct-portal:acme:member",
    ]);

    const deleting = structuredClone(t.current());
    deleting.metadata.finalizers = ["konstruct.io/tenant-cleanup"];
    deleting.metadata.deletionTimestamp = new Date().toISOString();
    t.kube.put("Tenant", deleting);
    await reconcileTenant(deleting, t.deps);
    expect([...t.kube.rbac.keys()].sort()).toEqual([
      `ClusterRole//${PORTAL_IMPERSONATION_CLUSTER_ROLE}`,
      `ClusterRoleBinding//${PORTAL_IMPERSONATION_CLUSTER_ROLE}`,
    ]);
    expect((await t.kube.getRbac("ClusterRole", PORTAL_IMPERSONATION_CLUSTER_ROLE))?.rules).toEqual([]);
  });

  it("never writes an impersonation rule without names (that would allow every user)", () => {
    expect(portalImpersonationRules([])).toEqual([]);
  });
});

describe("the portal's impersonation grant", () => {
  it("is read back only when the set of identities changed or a minute passed, and repaired then", async () => {
    const t = setup([]);
    await t.reconcile();
    const reads = vi.spyOn(t.kube, "getRbac");
    // Every Tenant's reconcile syncs the grant; with nothing changed, nothing is read again.
    await syncPortalImpersonation(t.deps);
    await syncPortalImpersonation(t.deps);
    expect(reads.mock.calls.filter(([, name]) => name === PORTAL_IMPERSONATION_CLUSTER_ROLE)).toEqual([]);

    // Drift (the role deleted by hand) is repaired at the first sync a minute later.
    await t.kube.deleteRbac("ClusterRole", PORTAL_IMPERSONATION_CLUSTER_ROLE);
    const now = Date.now();
    const clock = vi.spyOn(Date, "now").mockReturnValue(now + 61_000);
    try {
      await syncPortalImpersonation(t.deps);
    } finally {
      clock.mockRestore();
    }
    expect(await t.kube.getRbac("ClusterRole", PORTAL_IMPERSONATION_CLUSTER_ROLE)).not.toBeNull();
  });
});

describe("the portal's impersonation grant, many Tenants at once", () => {
  /** An API server whose writes take a while, counting writes of the impersonation role. */
  class SlowKubernetes extends MemoryKubernetes {
    roleWrites = 0;
    override async applyRbac(object: RbacObject, owner?: ObjectRef) {
      await new Promise((r) => setTimeout(r, 5));
      if (object.kind === "ClusterRole" && object.name === PORTAL_IMPERSONATION_CLUSTER_ROLE) this.roleWrites++;
      return super.applyRbac(object, owner);
    }
  }

  it("returns to each caller only once its Tenant's identities are in the role, sharing writes between callers", async () => {
    const kube = new SlowKubernetes();
    const tenants: Tenant[] = [];
    const deps = memoryTenantDeps(kube, memoryStores(), () => tenants);
    const granted = async () =>
      new Set((await kube.getRbac("ClusterRole", PORTAL_IMPERSONATION_CLUSTER_ROLE))?.rules?.[0]?.resourceNames ?? []);
    const missing: string[] = [];
    const calls: Promise<void>[] = [];
    // Tenants keep arriving in the cache while earlier ones' syncs are writing, as at start-up.
    for (let i = 0; i < 30; i++) {
      const name = `t${i}`;
      tenants.push({
        apiVersion: "konstruct.io/v1alpha1",
        kind: "Tenant",
        metadata: { name, uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, generation: 1 },
        spec: { displayName: name, reclaimPolicy: "Delete" },
      });
      calls.push(
        syncPortalImpersonation(deps).then(async () => {
          const names = await granted();
          if (!portalIdentities(name).every((identity) => names.has(identity))) missing.push(name);
        }),
      );
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(calls);
    expect(missing).toEqual([]);
    expect((await granted()).size).toBe(90);
    expect(kube.roleWrites).toBeLessThan(30);
  });
});
