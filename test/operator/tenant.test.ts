import { execFileSync } from "node:child_process";
import { decryptSecret, parseSecretKey } from "@konstruct/core";
import { PORTAL_EDITORS_ROLE_BINDING, portalIdentity, portalTenantClusterRole } from "@konstruct/operator";
import { DATABASE_SECRET, REDIS_SECRET, type RunningOperator } from "@konstruct/operator/runtime";
import { Redis } from "ioredis";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createSecret,
  eventually,
  getTenant,
  kubeClient,
  type OperatorEnvironment,
  readSecret,
  runOperator,
  startEnvironment,
  TENANTS,
  TEST_SECRET_KEY,
  tenantManifest,
  waitReady,
} from "./harness.ts";

const key = parseSecretKey(TEST_SECRET_KEY);
let env: OperatorEnvironment;
let operator: RunningOperator & { close(): Promise<void> };

beforeAll(async () => {
  env = await startEnvironment();
  operator = await runOperator(env, { resyncIntervalMs: 2_000, historyPurgeIntervalMs: 1_000 });
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
      "OwnersInvited",
      "PortalAccessReady",
      "Ready",
      "RedisReady",
    ]);
    expect(acme.status?.tenantId).toBe(acme.metadata.uid);

    const acmeId = acme.status?.tenantId as string;
    const globexId = globex.status?.tenantId as string;
    await sql`insert into agents (tenant_id, name, display_name, model)
              values (${acmeId}, 'a1', 'A', 'm'), (${globexId}, 'g1', 'G', 'm')`.execute(env.db);

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
      ).rejects.toThrow(/permission denied|row-level security/);
    } finally {
      await client.end();
    }

    await env.redis.set(`${globexId}:cache:k`, "globex");
    const redisSecret = await readSecret(env.admin, "konstruct-acme", REDIS_SECRET);
    const tenantRedis = new Redis(redisSecret.url as string, {
      maxRetriesPerRequest: 1,
      lazyConnect: true,
      enableReadyCheck: false,
    });
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

  it("runs as a user that holds only OPERATOR_RBAC_RULES (so every test here proves that RBAC is enough)", async () => {
    const asOperator = kubeClient(env.operatorKubeconfig);
    await expect(asOperator.request("GET", "/api/v1/secrets")).rejects.toThrow(/403/);
    await expect(asOperator.request("GET", "/api/v1/namespaces/default/pods")).rejects.toThrow(/403/);
    await expect(asOperator.request("GET", TENANTS)).resolves.toBeTruthy();
  });

  it("labels the tenant namespace and binds spec.admins to the tenant-admin ClusterRole there", async () => {
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("admins", {
        admins: [
          { kind: "User", name: "alice@acme.example" },
          { kind: "Group", name: "acme-ops" },
        ],
      }),
    });
    const t = await waitReady(env.admin, "admins");
    const ns = await env.admin.request<{ metadata: { labels: Record<string, string> } }>(
      "GET",
      "/api/v1/namespaces/konstruct-admins",
    );
    expect(ns.metadata.labels).toMatchObject({ "konstruct.io/tenant": "admins", "konstruct.io/tenant-id": t.status?.tenantId });
    const rb = await env.admin.request<{ roleRef: { name: string }; subjects: { kind: string; name: string }[] }>(
      "GET",
      "/apis/rbac.authorization.k8s.io/v1/namespaces/konstruct-admins/rolebindings/konstruct-tenant-admins",
    );
    expect(rb.roleRef.name).toBe("konstruct-tenant-admin");
    expect(rb.subjects.map((s) => `${s.kind}:${s.name}`)).toEqual(["User:alice@acme.example", "Group:acme-ops"]);
    // alice may now manage Agents in her tenant's namespace, and nowhere else.
    const alice = kubeClient(await env.plane.writeKubeconfigFor("alice@acme.example"));
    await expect(alice.request("GET", "/apis/konstruct.io/v1alpha1/namespaces/konstruct-admins/agents")).resolves.toBeTruthy();
    await expect(alice.request("GET", "/apis/konstruct.io/v1alpha1/namespaces/konstruct-acme/agents")).rejects.toThrow(/403/);
  });

  it("rejects an invalid Tenant in the API server, naming the field", async () => {
    const bad = tenantManifest("bad", { channels: [{ name: "c", type: "pigeon", externalId: "x" }] });
    await expect(env.admin.request("POST", TENANTS, { body: bad })).rejects.toThrow(/spec\.channels\[0\]\.type/);
    const noSecret = tenantManifest("bad2", { channels: [{ name: "c", type: "slack", externalId: "T123" }] });
    await expect(env.admin.request("POST", TENANTS, { body: noSecret })).rejects.toThrow(
      /spec\.channels\[0\]\.credentialsSecretRef/,
    );
    // "Add to Slack": no Secret, and none allowed, since the installation owns the token; slack only.
    const oauth = { name: "c", type: "slack", externalId: "T123", install: "oauth" };
    const dryRun = { query: { dryRun: "All" } };
    await expect(
      env.admin.request("POST", TENANTS, { body: tenantManifest("oauth-ok", { channels: [oauth] }), ...dryRun }),
    ).resolves.toBeTruthy();
    const oauthAndSecret = tenantManifest("bad3", { channels: [{ ...oauth, credentialsSecretRef: { name: "s" } }] });
    await expect(env.admin.request("POST", TENANTS, { body: oauthAndSecret })).rejects.toThrow(
      /spec\.channels\[0\]\.credentialsSecretRef: Forbidden/,
    );
    const oauthTelegram = tenantManifest("bad4", {
      channels: [{ name: "c", type: "telegram", externalId: "123", install: "oauth", credentialsSecretRef: { name: "s" } }],
    });
    await expect(env.admin.request("POST", TENANTS, { body: oauthTelegram })).rejects.toThrow(/spec\.channels\[0\]\.install/);
    await expect(env.admin.request("POST", TENANTS, { body: tenantManifest("dotted.name") })).rejects.toThrow(/metadata\.name/);
    await expect(env.admin.request("POST", TENANTS, { body: tenantManifest("x".repeat(60)) })).rejects.toThrow(
      /at most 53 characters/,
    );
    await env.admin.request("POST", TENANTS, { body: tenantManifest("fixed", { namespace: "fixed-ns" }) });
    await expect(
      env.admin.request("PATCH", `${TENANTS}/fixed`, { patch: "merge", body: { spec: { namespace: "other-ns" } } }),
    ).rejects.toThrow(/spec\.namespace.*immutable|namespace is immutable/);
  });
});

describe("conversation history retention", () => {
  it("writes spec.history.retentionDays to the tenant row (default 90); the API server refuses 0 and 3651", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("keeper") });
    const keeper = await waitReady(env.admin, "keeper");
    const id = keeper.status?.tenantId as string;
    const days = async () =>
      (await env.db.selectFrom("tenants").select("history_retention_days").where("id", "=", id).executeTakeFirstOrThrow())
        .history_retention_days;
    expect(await days()).toBe(90);
    await env.admin.request("PATCH", `${TENANTS}/keeper`, { patch: "merge", body: { spec: { history: { retentionDays: 7 } } } });
    await eventually(async () => ((await days()) === 7 ? true : undefined));
    for (const bad of [0, 3651]) {
      await expect(
        env.admin.request("POST", TENANTS, { body: tenantManifest(`bad-retention-${bad}`, { history: { retentionDays: bad } }) }),
      ).rejects.toThrow(/spec\.history\.retentionDays/);
    }
  });

  it("the leader purges messages past the tenant's retention and the conversations they leave empty", async () => {
    const keeper = await waitReady(env.admin, "keeper");
    const id = keeper.status?.tenantId as string;
    await env.db.updateTable("tenants").set({ history_retention_days: 7 }).where("id", "=", id).execute();
    const day = 86_400_000;
    const conversation = await env.db
      .insertInto("conversations")
      .values({
        tenant_id: id,
        channel_type: "slack",
        thread_key: "T1/C1/old",
        started_at: new Date(Date.now() - 10 * day),
        last_message_at: new Date(Date.now() - 10 * day),
        message_count: 1,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await env.db
      .insertInto("conversation_messages")
      .values({
        tenant_id: id,
        conversation_id: conversation.id,
        message_key: "inbound:old",
        direction: "inbound",
        text: "ten days ago",
        created_at: new Date(Date.now() - 10 * day),
      })
      .execute();
    await eventually(async () => {
      const left = await env.db.selectFrom("conversations").select("id").where("id", "=", conversation.id).execute();
      return left.length === 0 ? true : undefined;
    });
    expect(await env.db.selectFrom("conversation_messages").select("id").where("tenant_id", "=", id).execute()).toEqual([]);
  });
});

async function channelRows(tenantId: string) {
  return env.db.selectFrom("channel_connections").selectAll().where("tenant_id", "=", tenantId).orderBy("name").execute();
}

describe("channels", () => {
  it("upserts rows with encrypted credentials, follows spec and Secret changes, and deletes removed channels", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("chan", { reclaimPolicy: "Delete" }) });
    await waitReady(env.admin, "chan");
    await createSecret(env.admin, "konstruct-chan", "slack-creds", { botToken: "xoxb-1", signingSecret: "s1" });
    await env.admin.request("PATCH", `${TENANTS}/chan`, {
      patch: "merge",
      body: {
        spec: {
          channels: [
            { name: "slack", type: "slack", externalId: "TCHAN1", credentialsSecretRef: { name: "slack-creds" } },
            { name: "chat", type: "webchat", externalId: "chan-web", allowedOrigins: ["https://chan.example"] },
          ],
        },
      },
    });
    const tenant = await waitReady(env.admin, "chan");
    const tenantId = tenant.status?.tenantId as string;
    const rows = await channelRows(tenantId);
    expect(rows.map((r) => [r.name, r.channel_type, r.external_id])).toEqual([
      ["chat", "webchat", "chan-web"],
      ["slack", "slack", "TCHAN1"],
    ]);
    const slack = rows.find((r) => r.name === "slack");
    expect(slack?.credentials).not.toContain("xoxb");
    expect(JSON.parse(decryptSecret(key, tenantId, slack?.credentials as string))).toEqual({
      botToken: "xoxb-1",
      signingSecret: "s1",
    });
    expect(rows.find((r) => r.name === "chat")?.settings).toEqual({ allowedOrigins: ["https://chan.example"] });
    const statuses = tenant.status?.channels ?? [];
    expect(statuses.find((c) => c.name === "slack")?.webhookPath).toBe(`/webhooks/slack/${slack?.id}/events`);
    expect(statuses.find((c) => c.name === "chat")?.webhookPath).toBe(`/webchat/${rows.find((r) => r.name === "chat")?.id}/`);

    // A rotated token reaches the row through the periodic resync (Secrets are not watched).
    await createSecret(env.admin, "konstruct-chan", "slack-creds", { botToken: "xoxb-2", signingSecret: "s1" });
    await eventually(
      async () => {
        const row = (await channelRows(tenantId)).find((r) => r.name === "slack");
        return JSON.parse(decryptSecret(key, tenantId, row?.credentials as string)).botToken === "xoxb-2";
      },
      15_000,
      "rotated bot token",
    );

    await env.admin.request("PATCH", `${TENANTS}/chan`, {
      patch: "merge",
      body: {
        spec: {
          channels: [{ name: "slack", type: "slack", externalId: "TCHAN2", credentialsSecretRef: { name: "slack-creds" } }],
        },
      },
    });
    await eventually(
      async () => {
        const now = await channelRows(tenantId);
        return now.length === 1 && now[0]?.external_id === "TCHAN2" && now[0]?.id === slack?.id;
      },
      15_000,
      "channel rows to follow the spec",
    );
  });

  it("reports a channel whose Secret is missing, without failing the others", async () => {
    await env.admin.request("POST", TENANTS, {
      body: tenantManifest("nosecret", {
        channels: [{ name: "s", type: "slack", externalId: "TNOSEC", credentialsSecretRef: { name: "missing" } }],
      }),
    });
    const t = await eventually(async () => {
      const x = await getTenant(env.admin, "nosecret");
      return x.status?.conditions?.find((c) => c.type === "ChannelsReady" && c.status === "False") ? x : undefined;
    });
    expect(t.status?.conditions?.find((c) => c.type === "ChannelsReady")?.message).toMatch(/missing not found/);
    expect(t.status?.conditions?.find((c) => c.type === "DatabaseReady")?.status).toBe("True");
    expect(t.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
  });
});

async function roleExists(role: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_roles where rolname = ${role}`.execute(env.db);
  return rows[0]?.n === 1;
}
const roleOf = (tenantId: string) => `konstruct_t_${tenantId.replaceAll("-", "")}`;
const aclUserOf = (tenantId: string) => `konstruct-t-${tenantId}`;

describe("deletion", () => {
  it("with reclaimPolicy Delete drops the role, the ACL user, the rows and the namespace", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("doomed", { reclaimPolicy: "Delete" }) });
    const t = await waitReady(env.admin, "doomed");
    const tenantId = t.status?.tenantId as string;
    await env.redis.set(`${tenantId}:cache:x`, "1");
    expect(await roleExists(roleOf(tenantId))).toBe(true);
    await env.admin.request("DELETE", `${TENANTS}/doomed`);
    await eventually(
      async () => {
        try {
          await getTenant(env.admin, "doomed");
          return false;
        } catch {
          return true;
        }
      },
      15_000,
      "Tenant gone",
    );
    expect(await roleExists(roleOf(tenantId))).toBe(false);
    expect(await env.redis.call("ACL", "GETUSER", aclUserOf(tenantId))).toBeNull();
    expect(await env.redis.exists(`${tenantId}:cache:x`)).toBe(0);
    expect(await env.db.selectFrom("tenants").select("id").where("id", "=", tenantId).execute()).toEqual([]);
    const ns = await env.admin
      .request<{ metadata: { deletionTimestamp?: string } }>("GET", "/api/v1/namespaces/konstruct-doomed")
      .catch(() => null);
    // A bare API server runs no namespace controller: deletion is requested, never finished.
    expect(ns === null || ns.metadata.deletionTimestamp !== undefined).toBe(true);
  });

  it("with reclaimPolicy Retain keeps the data and says so", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("kept", { reclaimPolicy: "Retain" }) });
    const t = await waitReady(env.admin, "kept");
    const tenantId = t.status?.tenantId as string;
    await env.admin.request("DELETE", `${TENANTS}/kept`);
    await eventually(
      async () =>
        getTenant(env.admin, "kept").then(
          () => false,
          () => true,
        ),
      15_000,
      "Tenant gone",
    );
    expect(await roleExists(roleOf(tenantId))).toBe(true);
    expect(await env.db.selectFrom("tenants").select("id").where("id", "=", tenantId).execute()).toEqual([{ id: tenantId }]);
    const events = await env.admin.request<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(
      "GET",
      "/api/v1/namespaces/default/events",
    );
    const retained = events.items.find((e) => e.involvedObject.name === "kept" && e.reason === "Retained");
    expect(retained?.message).toContain(`spec.tenantId: ${tenantId}`);

    // The retained data can be adopted by a new Tenant of the same name.
    await env.admin.request("POST", TENANTS, { body: tenantManifest("kept", { tenantId, reclaimPolicy: "Delete" }) });
    const adopted = await waitReady(env.admin, "kept");
    expect(adopted.status?.tenantId).toBe(tenantId);
  });
});

/** The API server's request counts for RBAC objects and namespaces (what the operator caches), by `VERB resource`. */
async function cachedKindRequests(): Promise<Map<string, number>> {
  const text = String(await env.admin.request<string>("GET", "/metrics", { text: true }));
  const counts = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (
      !line.startsWith("apiserver_request_total{") ||
      !/resource="(rolebindings|clusterroles|clusterrolebindings|namespaces)"/.test(line)
    )
      continue;
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1] ?? "";
    const what = `${label("verb")} ${label("resource")}`;
    counts.set(what, (counts.get(what) ?? 0) + Number(line.split(" ").pop()));
  }
  return counts;
}

describe("drift", () => {
  it("recreates a dropped role and a deleted ACL user within the resync interval, and the Secrets keep working", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("drifty", { reclaimPolicy: "Delete" }) });
    const t = await waitReady(env.admin, "drifty");
    const tenantId = t.status?.tenantId as string;
    await sql.raw(`drop role ${roleOf(tenantId)}`).execute(env.db);
    await env.redis.call("ACL", "DELUSER", aclUserOf(tenantId));
    await eventually(
      async () => (await roleExists(roleOf(tenantId))) && (await env.redis.call("ACL", "GETUSER", aclUserOf(tenantId))) !== null,
      10_000,
      "role and ACL user back",
    );
    const pgSecret = await readSecret(env.admin, "konstruct-drifty", DATABASE_SECRET);
    const client = new pg.Client({ connectionString: pgSecret.url });
    await client.connect();
    expect((await client.query("select id::text from tenants")).rows).toEqual([{ id: tenantId }]);
    await client.end();
  });

  // The operator reads these from its watch cache (kube/managed-rbac-cache.ts), not per reconcile:
  // an edit, a deletion and a stripped label must each reach the cache and be repaired.
  it("repairs the portal's RBAC from its watch cache (an added subject, a deleted binding, a stripped label), then reads nothing", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("rbacdrift", { reclaimPolicy: "Delete" }) });
    await waitReady(env.admin, "rbacdrift");
    const RBAC = "/apis/rbac.authorization.k8s.io/v1";
    const editors = `${RBAC}/namespaces/konstruct-rbacdrift/rolebindings/${PORTAL_EDITORS_ROLE_BINDING}`;
    const tenantBinding = `${RBAC}/clusterrolebindings/${portalTenantClusterRole("rbacdrift")}`;
    const tenantRole = `${RBAC}/clusterroles/${portalTenantClusterRole("rbacdrift")}`;
    const intruder = { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "mallory" };
    const owned = [portalIdentity("rbacdrift", "owner"), portalIdentity("rbacdrift", "admin")];
    type Binding = { subjects?: { name: string }[]; metadata: { labels?: Record<string, string> } };
    type Role = { rules?: { verbs: string[]; resourceNames?: string[] }[]; metadata: { labels?: Record<string, string> } };

    const before = await env.admin.request<Binding>("GET", editors);
    await env.admin.request("PATCH", editors, {
      patch: "merge",
      body: { subjects: [...(before.subjects ?? []), intruder] },
    });
    await env.admin.request("DELETE", tenantBinding);
    await env.admin.request("PATCH", tenantRole, {
      patch: "merge",
      body: {
        metadata: { labels: { "app.kubernetes.io/managed-by": null } },
        rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
      },
    });

    await eventually(
      async () => {
        const binding = await env.admin.request<Binding>("GET", editors);
        const bound = await env.admin.request<Binding>("GET", tenantBinding).catch(() => null);
        const role = await env.admin.request<Role>("GET", tenantRole);
        return (
          JSON.stringify((binding.subjects ?? []).map((s) => s.name)) === JSON.stringify(owned) &&
          bound !== null &&
          role.metadata.labels?.["app.kubernetes.io/managed-by"] === "konstruct-operator" &&
          JSON.stringify(role.rules?.map((r) => r.resourceNames)) === JSON.stringify([["rbacdrift"]])
        );
      },
      15_000,
      "portal RBAC repaired",
    );

    // Once repaired, resyncs (every 2 s here) read every Tenant's namespace and RBAC from the
    // cache and find nothing to write. An empty or stale cache would re-apply on each pass; no
    // cache, GET each.
    const before2 = await cachedKindRequests();
    await new Promise((r) => setTimeout(r, 5_000));
    const after = await cachedKindRequests();
    const delta = (what: string) => (after.get(what) ?? 0) - (before2.get(what) ?? 0);
    expect(delta("APPLY rolebindings") + delta("APPLY clusterroles") + delta("APPLY clusterrolebindings")).toBe(0);
    expect(delta("GET rolebindings") + delta("GET namespaces")).toBe(0);
    // The impersonation grant (not cached: one object listing every Tenant) is read back once a minute.
    expect(delta("GET clusterroles")).toBeLessThanOrEqual(1);
    expect(delta("GET clusterrolebindings")).toBeLessThanOrEqual(1);
  });

  it("recreates ACL users after a Redis restart", async () => {
    await env.admin.request("POST", TENANTS, { body: tenantManifest("restarted", { reclaimPolicy: "Delete" }) });
    const t = await waitReady(env.admin, "restarted");
    const tenantId = t.status?.tenantId as string;
    execFileSync("bash", ["scripts/servers.sh", "restart-redis"], { cwd: new URL("../..", import.meta.url), stdio: "ignore" });
    const secret = await readSecret(env.admin, "konstruct-restarted", REDIS_SECRET);
    await eventually(
      async () => {
        const r = new Redis(secret.url as string, {
          maxRetriesPerRequest: 0,
          lazyConnect: true,
          enableReadyCheck: false,
          retryStrategy: () => null,
        });
        r.on("error", () => {});
        try {
          await r.connect();
          await r.set(`${tenantId}:cache:after-restart`, "1");
          return true;
        } finally {
          r.disconnect();
        }
      },
      15_000,
      "tenant Redis login after restart",
    );
  });
});
