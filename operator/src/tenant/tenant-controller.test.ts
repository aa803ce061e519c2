import { decryptSecret, encryptSecret, parseSecretKey } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { HISTORY_RETENTION_DAYS, TENANT_LIMIT_DEFAULTS } from "../api/defaults.ts";
import { PORTAL_EDITORS_ROLE_BINDING } from "../api/portal.ts";
import type { Tenant } from "../api/tenant.ts";
import { MemoryKubernetes } from "../local/memory-kubernetes.ts";
import type { KubernetesPort, RbacObject, Read, RoleState } from "../ports.ts";
import { memoryStores, memoryTenantDeps } from "../testing/fakes.ts";
import { verifierMatches } from "./passwords.ts";
import { DATABASE_SECRET, REDIS_SECRET, TENANT_FINALIZER, TENANT_LABEL } from "./tenant-context.ts";
import { reconcileTenant } from "./tenant-controller.ts";

// The per-type fields (install, allowedOrigins) are in the schema but not in its static type.
type ChannelSpec = NonNullable<Tenant["spec"]["channels"]>[number];

const TENANT_ID = "7d1c1e8e-4d5f-4a55-9a3c-0a5b1c2d3e4f";
const key = parseSecretKey(Buffer.alloc(32, 1).toString("base64"));

function setup(spec: Partial<Tenant["spec"]> = {}, others: Tenant[] = []) {
  const kube = new MemoryKubernetes();
  const stores = memoryStores();
  const tenant: Tenant = {
    apiVersion: "konstruct.io/v1alpha1",
    kind: "Tenant",
    metadata: { name: "acme", uid: TENANT_ID, generation: 1 },
    spec: { displayName: "Acme", reclaimPolicy: "Delete", ...spec },
  };
  kube.put("Tenant", tenant);
  const deps = memoryTenantDeps(kube, stores, () => [kube.get({ kind: "Tenant", name: "acme" }) ?? tenant, ...others], {
    secretKey: key,
  });
  const current = () => kube.get({ kind: "Tenant", name: "acme" }) ?? tenant;
  return { kube, stores, deps, current };
}

describe("reconcileTenant", () => {
  it("provisions everything, then a second reconcile writes nothing anywhere", async () => {
    const { kube, stores, deps, current } = setup();
    await reconcileTenant(current(), deps);
    const status = current().status;
    expect(status?.conditions?.every((c) => c.status === "True")).toBe(true);
    expect(current().metadata.finalizers).toEqual([TENANT_FINALIZER]);
    const secret = await kube.getSecret("konstruct-acme", DATABASE_SECRET);
    expect(
      await verifierMatches(
        stores.roles.get(`konstruct_t_${TENANT_ID.replaceAll("-", "")}`)?.verifier as string,
        secret?.password as string,
      ),
    ).toBe(true);
    expect(await kube.getSecret("konstruct-acme", REDIS_SECRET)).toMatchObject({ keyPrefix: `${TENANT_ID}:` });

    stores.writes.length = 0;
    kube.writes.clear();
    await reconcileTenant(structuredClone(current()), deps);
    expect(stores.writes).toEqual([]);
    expect([...kube.writes]).toEqual([]);
  });

  it("repairs a role whose password was changed by hand, keeping the Secret's password", async () => {
    const { kube, stores, deps, current } = setup();
    await reconcileTenant(current(), deps);
    const role = `konstruct_t_${TENANT_ID.replaceAll("-", "")}`;
    stores.roles.set(role, { ...(stores.roles.get(role) as RoleState), verifier: "SCRAM-SHA-256$4096:c2FsdA==$AAAA:BBBB" });
    await reconcileTenant(structuredClone(current()), deps);
    const password = (await kube.getSecret("konstruct-acme", DATABASE_SECRET))?.password as string;
    expect(await verifierMatches(stores.roles.get(role)?.verifier as string, password)).toBe(true);
  });

  it("stores channel credentials encrypted for the tenant and reports a Secret that lacks a key", async () => {
    const { kube, stores, deps, current } = setup({
      channels: [
        { name: "slack", type: "slack", externalId: "T1", credentialsSecretRef: { name: "slack" } },
        { name: "other", type: "slack", externalId: "T2", credentialsSecretRef: { name: "partial" } },
      ],
    });
    await kube.applySecret("konstruct-acme", "slack", { botToken: "xoxb-1", signingSecret: "s" });
    await kube.applySecret("konstruct-acme", "partial", { botToken: "xoxb-2" });
    await reconcileTenant(current(), deps);
    const [row] = [...stores.channels.values()];
    expect(JSON.parse(decryptSecret(key, TENANT_ID, row?.credentials as string))).toEqual({
      botToken: "xoxb-1",
      signingSecret: "s",
    });
    const channels = current().status?.channels ?? [];
    expect(channels.find((c) => c.name === "slack")).toMatchObject({
      ready: true,
      webhookPath: `/webhooks/slack/${row?.id}/events`,
    });
    expect(channels.find((c) => c.name === "other")?.message).toMatch(/lacks signingSecret/);
    expect(current().status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "ChannelFailed",
    });
  });

  it("leaves an OAuth-installed Slack channel's credentials to its installation: waits for it, keeps it, drops it with the workspace", async () => {
    const { kube, stores, deps, current } = setup({
      channels: [{ name: "slack", type: "slack", externalId: "T1", install: "oauth" } as ChannelSpec],
    });
    await reconcileTenant(current(), deps);
    const [row] = [...stores.channels.values()];
    expect(row).toMatchObject({ externalId: "T1", credentials: null, settings: { install: "oauth" } });
    const waiting = current().status?.channels?.[0];
    expect(waiting).toMatchObject({ ready: false, installed: false, installPath: `/webhooks/slack/install/${row?.id}` });
    expect(waiting?.message).toContain(`/webhooks/slack/install/${row?.id}`);
    expect(current().status?.conditions?.find((c) => c.type === "ChannelsReady")).toMatchObject({
      status: "False",
      reason: "AwaitingInstallation",
    });

    // The gateway's OAuth callback stores the installation; resyncs keep it and report it.
    const installation = encryptSecret(key, TENANT_ID, JSON.stringify({ botToken: "xoxb-installed" }));
    stores.channels.set(row?.id as string, { ...(row as NonNullable<typeof row>), credentials: installation });
    stores.writes.length = 0;
    await reconcileTenant(structuredClone(current()), deps);
    expect(stores.channels.get(row?.id as string)?.credentials).toBe(installation);
    expect(stores.writes).toEqual([]);
    expect(current().status?.channels?.[0]).toMatchObject({ ready: true, installed: true });
    expect(current().status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });

    // Another workspace: the token was that workspace's, so it goes.
    const next = structuredClone(current());
    next.metadata.generation = 2;
    next.spec.channels = [{ name: "slack", type: "slack", externalId: "T2", install: "oauth" } as ChannelSpec];
    kube.put("Tenant", next);
    await reconcileTenant(structuredClone(current()), deps);
    expect(stores.channels.get(row?.id as string)).toMatchObject({ externalId: "T2", credentials: null });
  });

  it("on deletion with Delete drops role, ACL user, rows and namespace, then releases the finalizer", async () => {
    const { kube, stores, deps, current } = setup();
    await reconcileTenant(current(), deps);
    await reconcileTenant(
      { ...structuredClone(current()), metadata: { ...current().metadata, deletionTimestamp: new Date().toISOString() } },
      deps,
    );
    expect(stores.roles.size).toBe(0);
    expect(stores.acl.size).toBe(0);
    expect(stores.tenants.size).toBe(0);
    expect(kube.deletedNamespaces.has("konstruct-acme")).toBe(true);
    expect(current().metadata.finalizers).toEqual([]);
  });

  it("refuses a namespace that belongs to another Tenant", async () => {
    const { kube, deps, current } = setup();
    await kube.applyNamespace("konstruct-acme", { "konstruct.io/tenant": "someone-else" });
    await reconcileTenant(current(), deps);
    expect(current().status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "NamespaceTaken",
    });
  });

  it("refuses the install namespace with NamespaceNotAllowed, before any write (not even its finalizer)", async () => {
    const { kube, stores, deps, current } = setup({ namespace: "konstruct-system" });
    expect(await reconcileTenant(current(), deps)).toEqual({ requeue: true });
    expect(current().status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "NamespaceNotAllowed",
    });
    expect(current().metadata.finalizers).toBeUndefined();
    expect(stores.writes).toEqual([]);
    expect([...kube.writes.keys()].filter((w) => w !== "patchStatus" && w !== "recordEvent")).toEqual([]);
  });

  it("refuses an existing namespace not created or labelled for the Tenant with NamespaceNotOwned", async () => {
    const { kube, stores, deps, current } = setup();
    await kube.applyNamespace("konstruct-acme", { team: "payments" });
    await reconcileTenant(current(), deps);
    expect(current().status?.conditions?.find((c) => c.type === "Ready")?.reason).toBe("NamespaceNotOwned");
    expect(await kube.getNamespaceLabels("konstruct-acme")).toEqual({ team: "payments" });
    expect(stores.writes).toEqual([]);
  });

  it("refuses another live Tenant's id with TenantIdInUse, and deleting it later leaves that tenant's data alone", async () => {
    const victim = "0b1c1e8e-4d5f-4a55-9a3c-0a5b1c2d3e40";
    const other: Tenant = {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Tenant",
      metadata: { name: "victim", uid: victim, generation: 1 },
      spec: { displayName: "Victim", reclaimPolicy: "Retain" },
      status: { tenantId: victim },
    };
    const { stores, deps, current } = setup({ tenantId: victim }, [other]);
    await stores.ownersPort.claim(victim, { uid: victim, name: "victim" }, null);
    stores.writes.length = 0;
    await reconcileTenant(current(), deps);
    expect(current().status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "TenantIdInUse",
    });
    expect(stores.writes).toEqual([]);
    // Even a Tenant that got its finalizer (accepted once) drops nothing under another's claim.
    await reconcileTenant(
      {
        ...structuredClone(current()),
        metadata: { ...current().metadata, finalizers: [TENANT_FINALIZER], deletionTimestamp: new Date().toISOString() },
      },
      deps,
    );
    expect(stores.writes).toEqual([]);
    expect(stores.owners.get(victim)?.uid).toBe(victim);
  });

  it("writes TENANT_LIMIT_DEFAULTS into the row of a Tenant that sets no limits, and the spec's where it does", async () => {
    const { stores, deps, current } = setup();
    await reconcileTenant(current(), deps);
    expect(stores.tenants.get(TENANT_ID)).toMatchObject(TENANT_LIMIT_DEFAULTS);
    await reconcileTenant({ ...structuredClone(current()), spec: { ...current().spec, limits: { tokensPerDay: 5 } } }, deps);
    expect(stores.tenants.get(TENANT_ID)).toMatchObject({ ...TENANT_LIMIT_DEFAULTS, tokensPerDay: 5 });
  });

  it("writes the history retention: the default when the spec has none, the spec's where it sets one", async () => {
    const { stores, deps, current } = setup();
    await reconcileTenant(current(), deps);
    expect(stores.tenants.get(TENANT_ID)?.historyRetentionDays).toBe(HISTORY_RETENTION_DAYS.default);
    await reconcileTenant({ ...structuredClone(current()), spec: { ...current().spec, history: { retentionDays: 7 } } }, deps);
    expect(stores.tenants.get(TENANT_ID)?.historyRetentionDays).toBe(7);
  });
});

describe("reconcileTenant with reads from a watch cache that lags", () => {
  // The operator reads namespaces and its RBAC from a watch cache (kube/watch-cache.ts). This is
  // `kube` as seen through one: the reads given here answer every read not asked to be fresh.
  type CachedReads = Partial<Pick<KubernetesPort, "getNamespaceLabels" | "getRbac">>;
  const cachedView = (kube: MemoryKubernetes, cached: CachedReads): KubernetesPort =>
    new Proxy(kube, {
      get(target, property) {
        const stale = cached[property as keyof CachedReads] as ((...args: unknown[]) => unknown) | undefined;
        const value = Reflect.get(target, property, target);
        if (stale)
          return (...args: unknown[]) => ((args.at(-1) as Read | undefined)?.fresh ? value.apply(target, args) : stale(...args));
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const lagging = (kube: MemoryKubernetes) => cachedView(kube, { getNamespaceLabels: async () => null });

  it("goes on when the namespace it is told is missing turns out to be its own", async () => {
    const { kube, deps, current } = setup();
    await reconcileTenant(current(), deps);
    const result = await reconcileTenant(current(), { ...deps, kube: lagging(kube) });
    expect(result).toEqual({});
    expect(current().status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("never takes over a namespace someone else made meanwhile", async () => {
    const { kube, deps, current } = setup();
    await kube.createNamespace("konstruct-acme", { team: "someone-else" });
    const result = await reconcileTenant(current(), { ...deps, kube: lagging(kube) });
    expect(result).toEqual({ requeue: true });
    expect(await kube.getNamespaceLabels("konstruct-acme")).toEqual({ team: "someone-else" });
    const namespace = current().status?.conditions?.find((c) => c.type === "NamespaceReady");
    expect(namespace).toMatchObject({ status: "False", reason: "KubernetesApi409" });
  });

  it("on deletion keeps a namespace and a portal binding handed on to another Tenant, though its cache still shows them as its own", async () => {
    const { kube, deps, current } = setup();
    await reconcileTenant(current(), deps);
    const staleLabels = await kube.getNamespaceLabels("konstruct-acme");
    const staleBinding = await kube.getRbac("RoleBinding", PORTAL_EDITORS_ROLE_BINDING, "konstruct-acme");
    // An admin hands the namespace and the binding in it on to Tenant bravo; the cache has not heard yet.
    const handedOn = { [TENANT_LABEL]: "bravo" };
    await kube.applyNamespace("konstruct-acme", handedOn);
    await kube.applyRbac({ ...(staleBinding as RbacObject), labels: handedOn });
    const view = cachedView(kube, {
      getNamespaceLabels: async () => staleLabels,
      getRbac: async (kind, name, namespace) =>
        kind === "RoleBinding" && name === PORTAL_EDITORS_ROLE_BINDING ? staleBinding : kube.getRbac(kind, name, namespace),
    });
    const deleting = {
      ...structuredClone(current()),
      metadata: { ...current().metadata, deletionTimestamp: new Date().toISOString() },
    };
    await reconcileTenant(deleting, { ...deps, kube: view });
    expect(current().metadata.finalizers).toEqual([]);
    expect(kube.deletedNamespaces.has("konstruct-acme")).toBe(false);
    expect((await kube.getRbac("RoleBinding", PORTAL_EDITORS_ROLE_BINDING, "konstruct-acme"))?.labels).toEqual(handedOn);
  });
});
