import { DATABASE_SECRET, REDIS_SECRET, type RunningOperator } from "@konstruct/operator/runtime";
import { Redis } from "ioredis";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  getTenant,
  LEASE_NAMESPACE,
  type OperatorEnvironment,
  readSecret,
  runOperator,
  startEnvironment,
  TENANTS,
  type TenantObject,
  tenantManifest,
  waitReady,
} from "./harness.ts";

// Whoever creates a Tenant gets that tenant only: no namespace of
// Kubernetes, of the operator or of anyone else, and no other live Tenant's id.

let env: OperatorEnvironment;
let operator: RunningOperator & { close(): Promise<void> };

beforeAll(async () => {
  env = await startEnvironment();
  operator = await runOperator(env, { resyncIntervalMs: 2_000 });
});

afterAll(async () => {
  await operator?.close();
  await env?.stop();
});

const RB_PATH = (ns: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/konstruct-tenant-admins`;
const roleOf = (tenantId: string) => `konstruct_t_${tenantId.replaceAll("-", "")}`;
const ADMINS = [{ kind: "User", name: "mallory@evil.example" }];

interface NamespaceObject {
  metadata: { labels?: Record<string, string>; deletionTimestamp?: string };
}

async function namespace(name: string): Promise<NamespaceObject | null> {
  return env.admin.request<NamespaceObject>("GET", `/api/v1/namespaces/${name}`).catch(() => null);
}

async function createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await env.admin.request("POST", "/api/v1/namespaces", {
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } },
  });
}

async function exists(path: string): Promise<boolean> {
  return env.admin.request("GET", path).then(
    () => true,
    () => false,
  );
}

/** Waits for Ready=False with `reason`, and returns the Tenant. */
async function waitRefused(name: string, reason: string): Promise<TenantObject> {
  return eventually(
    async () => {
      const t = await getTenant(env.admin, name);
      const ready = t.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "False" && ready.reason === reason ? t : undefined;
    },
    30_000,
    `Tenant ${name} refused with ${reason}`,
  );
}

async function warningEvent(name: string, reason: string): Promise<{ type: string; message: string }> {
  return eventually(
    async () => {
      const events = await env.admin.request<{
        items: { type: string; reason: string; message: string; involvedObject: { kind: string; name: string } }[];
      }>("GET", "/api/v1/namespaces/default/events");
      return events.items.find(
        (e) => e.involvedObject.kind === "Tenant" && e.involvedObject.name === name && e.reason === reason,
      );
    },
    30_000,
    `Event ${reason} for Tenant ${name}`,
  );
}

async function deleteTenantAndWait(name: string): Promise<void> {
  await env.admin.request("DELETE", `${TENANTS}/${name}`);
  await eventually(
    async () =>
      getTenant(env.admin, name).then(
        () => false,
        () => true,
      ),
    30_000,
    `Tenant ${name} gone`,
  );
}

/** Nothing was provisioned for the Tenant with this uid: no row, claim, role or ACL user. */
async function expectNothingProvisioned(name: string, uid: string): Promise<void> {
  expect(await env.db.selectFrom("tenants").select("id").where("name", "=", name).execute()).toEqual([]);
  expect(await env.db.selectFrom("tenant_owners").select("tenant_id").where("owner_uid", "=", uid).execute()).toEqual([]);
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_roles where rolname = ${roleOf(uid)}`.execute(
    env.db,
  );
  expect(rows[0]?.n).toBe(0);
  expect(await env.redis.call("ACL", "GETUSER", `konstruct-t-${uid}`)).toBeNull();
}

describe("a Tenant's namespace", () => {
  it("is never default or kube-*: the API server refuses them, naming the field", async () => {
    for (const ns of ["kube-system", "default", "kube-public"]) {
      await expect(
        env.admin.request("POST", TENANTS, { body: tenantManifest(`evil-${ns}`, { namespace: ns, admins: ADMINS }) }),
      ).rejects.toThrow(/spec\.namespace.*(default|kube-)/);
    }
  });

  it("is never the operator's install namespace: Ready=False NamespaceNotAllowed, an Event, nothing written there, and it survives the Tenant's deletion", async () => {
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("install-squatter", { namespace: LEASE_NAMESPACE, reclaimPolicy: "Delete", admins: ADMINS }),
    });
    const t = await waitRefused("install-squatter", "NamespaceNotAllowed");
    const ready = t.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.message).toMatch(new RegExp(`namespace ${LEASE_NAMESPACE} is the Konstruct operator's own namespace`));
    expect(ready?.message).toMatch(/another spec\.namespace/);
    expect((await warningEvent("install-squatter", "NamespaceNotAllowed")).type).toBe("Warning");
    expect(await exists(RB_PATH(LEASE_NAMESPACE))).toBe(false);
    expect(await exists(`/api/v1/namespaces/${LEASE_NAMESPACE}/secrets/${DATABASE_SECRET}`)).toBe(false);
    expect(await exists(`/api/v1/namespaces/${LEASE_NAMESPACE}/secrets/${REDIS_SECRET}`)).toBe(false);
    await expectNothingProvisioned("install-squatter", t.metadata.uid);

    await deleteTenantAndWait("install-squatter");
    const ns = await namespace(LEASE_NAMESPACE);
    expect(ns).not.toBeNull();
    expect(ns?.metadata.deletionTimestamp).toBeUndefined();
  });

  it("is not an existing namespace the operator did not create and nobody labelled for the Tenant: NamespaceNotOwned, and it survives", async () => {
    await createNamespace("payments");
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("squatter", { namespace: "payments", reclaimPolicy: "Delete", admins: ADMINS }),
    });
    const t = await waitRefused("squatter", "NamespaceNotOwned");
    expect(t.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain("label it konstruct.io/tenant=squatter");
    expect((await warningEvent("squatter", "NamespaceNotOwned")).type).toBe("Warning");
    expect(await exists(RB_PATH("payments"))).toBe(false);
    expect(await exists(`/api/v1/namespaces/payments/secrets/${DATABASE_SECRET}`)).toBe(false);
    expect((await namespace("payments"))?.metadata.labels?.["konstruct.io/tenant"]).toBeUndefined();
    await expectNothingProvisioned("squatter", t.metadata.uid);

    await deleteTenantAndWait("squatter");
    const ns = await namespace("payments");
    expect(ns).not.toBeNull();
    expect(ns?.metadata.deletionTimestamp).toBeUndefined();
  });

  it("is not the namespace of another Tenant: NamespaceTaken, and the other Tenant's namespace survives", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("holder", { reclaimPolicy: "Retain" }) });
    await waitReady(env.admin, "holder");
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("intruder", { namespace: "konstruct-holder", reclaimPolicy: "Delete", admins: ADMINS }),
    });
    await waitRefused("intruder", "NamespaceTaken");
    expect(await exists(RB_PATH("konstruct-holder"))).toBe(false);
    await deleteTenantAndWait("intruder");
    expect((await namespace("konstruct-holder"))?.metadata.deletionTimestamp).toBeUndefined();
    expect((await waitReady(env.admin, "holder")).status?.namespace).toBe("konstruct-holder");
  });

  it("may be an existing namespace labelled for the Tenant: it is adopted, and then deleted with it", async () => {
    await createNamespace("handed-over", { "konstruct.io/tenant": "adopter" });
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("adopter", { namespace: "handed-over", reclaimPolicy: "Delete", admins: ADMINS }),
    });
    const t = await waitReady(env.admin, "adopter");
    expect((await namespace("handed-over"))?.metadata.labels).toMatchObject({
      "konstruct.io/tenant": "adopter",
      "konstruct.io/tenant-uid": t.metadata.uid,
    });
    expect(await exists(RB_PATH("handed-over"))).toBe(true);
    await deleteTenantAndWait("adopter");
    const ns = await namespace("handed-over");
    // A bare API server runs no namespace controller: deletion is requested, never finished.
    expect(ns === null || ns.metadata.deletionTimestamp !== undefined).toBe(true);
  });

  it("once refused, is adopted when an admin labels it for the Tenant", async () => {
    await createNamespace("later");
    await env.admin.request("POST", TENANTS, { body: tenantManifest("patient", { namespace: "later" }) });
    await waitRefused("patient", "NamespaceNotOwned");
    await env.admin.request("PATCH", "/api/v1/namespaces/later", {
      patch: "merge",
      body: { metadata: { labels: { "konstruct.io/tenant": "patient" } } },
    });
    await waitReady(env.admin, "patient");
  });
});

describe("a Tenant's tenantId", () => {
  it("cannot be a live tenant's: TenantIdInUse, an Event, and the live tenant's rows, role, ACL user and channels are untouched, also after the claimant's deletion", async () => {
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("victim", {
        reclaimPolicy: "Delete",
        channels: [{ name: "chat", type: "webchat", externalId: "victim-web", allowedOrigins: ["https://victim.example"] }],
      }),
    });
    const victim = await waitReady(env.admin, "victim");
    const victimId = victim.status?.tenantId as string;
    const rowBefore = await env.db.selectFrom("tenants").selectAll().where("id", "=", victimId).executeTakeFirstOrThrow();
    const channelsOf = () =>
      env.db
        .selectFrom("channel_connections")
        .select(["id", "name", "external_id", "settings"])
        .where("tenant_id", "=", victimId)
        .orderBy("name")
        .execute();
    const channelsBefore = await channelsOf();
    expect(channelsBefore.map((c) => c.external_id)).toEqual(["victim-web"]);
    const verifierOf = async () =>
      (
        await sql<{ v: string | null }>`select rolpassword as v from pg_authid where rolname = ${roleOf(victimId)}`.execute(
          env.db,
        )
      ).rows[0]?.v;
    const verifierBefore = await verifierOf();
    const aclBefore = await env.redis.call("ACL", "GETUSER", `konstruct-t-${victimId}`);

    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("thief", {
        tenantId: victimId,
        reclaimPolicy: "Delete",
        admins: ADMINS,
        limits: { tokensPerDay: 1 },
        channels: [{ name: "chat", type: "webchat", externalId: "thief-web", allowedOrigins: ["https://thief.example"] }],
      }),
    });
    const thief = await waitRefused("thief", "TenantIdInUse");
    expect(thief.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/belongs to Tenant victim/);
    expect((await warningEvent("thief", "TenantIdInUse")).type).toBe("Warning");
    expect(await namespace("konstruct-thief")).toBeNull();

    const untouched = async () => {
      expect(await env.db.selectFrom("tenants").selectAll().where("id", "=", victimId).executeTakeFirst()).toEqual(rowBefore);
      expect(await channelsOf()).toEqual(channelsBefore);
      expect(await verifierOf()).toBe(verifierBefore);
      expect(await env.redis.call("ACL", "GETUSER", `konstruct-t-${victimId}`)).toEqual(aclBefore);
      expect(await env.db.selectFrom("tenant_owners").select("owner_uid").where("tenant_id", "=", victimId).execute()).toEqual([
        { owner_uid: victim.metadata.uid },
      ]);
    };
    await untouched();

    await deleteTenantAndWait("thief");
    await untouched();
    expect((await namespace("konstruct-victim"))?.metadata.deletionTimestamp).toBeUndefined();
    // The victim's own credentials still work.
    const pgSecret = await readSecret(env.admin, "konstruct-victim", DATABASE_SECRET);
    const client = new pg.Client({ connectionString: pgSecret.url });
    await client.connect();
    try {
      expect((await client.query("select id::text from tenants")).rows).toEqual([{ id: victimId }]);
    } finally {
      await client.end();
    }
    const redisSecret = await readSecret(env.admin, "konstruct-victim", REDIS_SECRET);
    const tenantRedis = new Redis(redisSecret.url as string, {
      maxRetriesPerRequest: 1,
      lazyConnect: true,
      enableReadyCheck: false,
    });
    await tenantRedis.connect();
    try {
      await tenantRedis.set(`${victimId}:cache:still-mine`, "1");
    } finally {
      tenantRedis.disconnect();
    }
    await waitReady(env.admin, "victim");
  });

  it("can adopt what a Tenant deleted with Retain left behind, under another name", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("old-co", { reclaimPolicy: "Retain" }) });
    const old = await waitReady(env.admin, "old-co");
    const tenantId = old.status?.tenantId as string;
    await deleteTenantAndWait("old-co");
    expect(await env.db.selectFrom("tenant_owners").select("tenant_id").where("tenant_id", "=", tenantId).execute()).toEqual([]);
    await env.admin.request("POST", TENANTS, { body: tenantManifest("new-co", { tenantId, reclaimPolicy: "Retain" }) });
    const adopted = await waitReady(env.admin, "new-co");
    expect(adopted.status?.tenantId).toBe(tenantId);
    expect(await env.db.selectFrom("tenant_owners").select("owner_uid").where("tenant_id", "=", tenantId).execute()).toEqual([
      { owner_uid: adopted.metadata.uid },
    ]);
  });
});
