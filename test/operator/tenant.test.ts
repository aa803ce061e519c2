import { DATABASE_SECRET, REDIS_SECRET, type RunningOperator } from "@konstruct/operator/runtime";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSecret,
  eventually,
  getTenant,
  type OperatorEnvironment,
  readSecret,
  runOperator,
  startEnvironment,
  TENANTS,
  tenantManifest,
  waitReady,
} from "./harness.ts";

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

describe("Tenant reconcile", () => {
  it("reaches Ready with every condition true, with a role and an ACL user that reach only the tenant's data", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("acme", { reclaimPolicy: "Delete" }) });
    await env.admin.request("POST", TENANTS, { body: tenantManifest("globex", { reclaimPolicy: "Delete" }) });
    const acme = await waitReady(env.admin, "acme");
    const globex = await waitReady(env.admin, "globex");
    for (const c of acme.status?.conditions ?? []) expect(c.status, c.type).toBe("True");
    expect(acme.status?.conditions?.map((c) => c.type).sort()).toEqual([
      "ChannelsReady",
      "DatabaseReady",
      "NamespaceReady",
      "Ready",
      "RedisReady",
    ]);
    expect(acme.status?.tenantId).toBe(acme.metadata.uid);

    const acmeId = acme.status?.tenantId as string;
    const globexId = globex.status?.tenantId as string;
    await env.db
      .insertInto("agents")
      .values([
        { tenant_id: acmeId, name: "a1", display_name: "A", model: "m" },
        { tenant_id: globexId, name: "g1", display_name: "G", model: "m" },
      ])
      .execute();

    const pgSecret = await readSecret(env.admin, "konstruct-acme", DATABASE_SECRET);
    const client = new pg.Client({ connectionString: pgSecret.url });
    await client.connect();
    try {
      const { rows } = await client.query("select tenant_id::text, name from agents");
      expect(rows).toEqual([{ tenant_id: acmeId, name: "a1" }]);
      const tenants = await client.query("select id::text from tenants");
      expect(tenants.rows).toEqual([{ id: acmeId }]);
      // Setting the GUC the app role uses does not switch tenants for a tenant role.
      await client.query("select set_config('app.current_tenant', $1, false)", [globexId]);
      expect((await client.query("select name from agents")).rows).toEqual([{ name: "a1" }]);
      await expect(
        client.query("insert into agents (tenant_id, name, display_name, model) values ($1, 'x', 'x', 'm')", [globexId]),
      ).rejects.toThrow(/row-level security/);
    } finally {
      await client.end();
    }

    await env.redis.set(`${globexId}:cache:k`, "globex");
    const redisSecret = await readSecret(env.admin, "konstruct-acme", REDIS_SECRET);
    const tenantRedis = new Redis(redisSecret.url as string, { maxRetriesPerRequest: 1, lazyConnect: true, enableReadyCheck: false });
    await tenantRedis.connect();
    try {
      await tenantRedis.set(`${acmeId}:cache:k`, "acme");
      expect(await tenantRedis.get(`${acmeId}:cache:k`)).toBe("acme");
      await expect(tenantRedis.get(`${globexId}:cache:k`)).rejects.toThrow(/NOPERM/);
      await expect(tenantRedis.call("KEYS", "*")).rejects.toThrow(/NOPERM/);
      await expect(tenantRedis.call("SCAN", "0")).rejects.toThrow(/NOPERM/);
      await expect(tenantRedis.call("FLUSHALL")).rejects.toThrow(/NOPERM/);
      await expect(tenantRedis.publish(`${globexId}:webchat:x`, "hi")).rejects.toThrow(/NOPERM/);
    } finally {
      tenantRedis.disconnect();
    }
  });

  it("rejects an invalid Tenant in the API server, naming the field", async () => {
    const bad = tenantManifest("bad", { channels: [{ name: "c", type: "telegram", externalId: "x" }] });
    await expect(env.admin.request("POST", TENANTS, { body: bad })).rejects.toThrow(/spec\.channels\[0\]\.type/);
    const noSecret = tenantManifest("bad2", { channels: [{ name: "c", type: "slack", externalId: "T123" }] });
    await expect(env.admin.request("POST", TENANTS, { body: noSecret })).rejects.toThrow(
      /spec\.channels\[0\]\.credentialsSecretRef/,
    );
    await env.admin.request("POST", TENANTS, { body: tenantManifest("fixed", { namespace: "fixed-ns" }) });
    await expect(
      env.admin.request("PATCH", `${TENANTS}/fixed`, { patch: "merge", body: { spec: { namespace: "other-ns" } } }),
    ).rejects.toThrow(/spec\.namespace.*immutable|namespace is immutable/);
  });
});
