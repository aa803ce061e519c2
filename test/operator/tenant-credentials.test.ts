import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { createLogger, REDIS_KEY_TYPES, TENANT_WRITABLE_KEY_TYPES, watchConfigChanges } from "@konstruct/core";
import { DATABASE_SECRET, REDIS_SECRET, type RunningOperator } from "@konstruct/operator/runtime";
import { Redis } from "ioredis";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  type OperatorEnvironment,
  readSecret,
  runOperator,
  startEnvironment,
  TENANTS,
  tenantManifest,
  waitReady,
} from "./harness.ts";

// What a tenant can do with the credentials the operator hands it, tried as an
// attacker would, with the URLs from its own Secrets against the real servers.

let env: OperatorEnvironment;
let operator: RunningOperator & { close(): Promise<void> };
let tenantId: string;
let otherId: string;
let agentId: string;
let dbUrl: string;
let redisUrl: string;
const clients: pg.Client[] = [];

async function tenantClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: dbUrl });
  client.on("error", () => {});
  await client.connect();
  clients.push(client);
  return client;
}

function tenantRedis(): Redis {
  const r = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, enableReadyCheck: false });
  r.on("error", () => {});
  return r;
}

beforeAll(async () => {
  env = await startEnvironment();
  operator = await runOperator(env, { resyncIntervalMs: 2_000 });
  // The channel is in the spec, as in real life: a row inserted behind the operator's back would
  // be removed by its next resync (channels follow spec.channels), racing the reads below.
  const channels = [{ name: "chat", type: "webchat", externalId: "mallory-chat" }];
  await env.admin.request("POST", TENANTS, { body: tenantManifest("mallory", { reclaimPolicy: "Delete", channels }) });
  await env.admin.request("POST", TENANTS, { body: tenantManifest("victim", { reclaimPolicy: "Delete" }) });
  tenantId = (await waitReady(env.admin, "mallory")).status?.tenantId as string;
  otherId = (await waitReady(env.admin, "victim")).status?.tenantId as string;
  const agent = await env.db
    .insertInto("agents")
    .values({ tenant_id: tenantId, name: "ava", display_name: "Ava", model: "m", system_prompt: "be kind" })
    .returning("id")
    .executeTakeFirstOrThrow();
  agentId = agent.id;
  await env.db
    .insertInto("portal_users")
    .values({ tenant_id: tenantId, email: "owner@mallory.example", password_hash: "$argon2id$v=19$x", role: "owner" })
    .execute();
  await env.db
    .insertInto("token_usage")
    .values({ tenant_id: tenantId, agent_id: agentId, day: "2026-11-28", prompt_tokens: 900, completion_tokens: 100, runs: 3 })
    .execute();
  dbUrl = (await readSecret(env.admin, "konstruct-mallory", DATABASE_SECRET)).url as string;
  redisUrl = (await readSecret(env.admin, "konstruct-mallory", REDIS_SECRET)).url as string;
});

// Each test ends its logins: the role's connection limit counts them.
afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => {});
});

afterAll(async () => {
  await operator?.close();
  await env?.stop();
});

describe("a tenant's PostgreSQL login", () => {
  it("cannot write the platform's configuration, its usage counters or its tenant row", async () => {
    const c = await tenantClient();
    const attacks = [
      // Connecting another company's Slack workspace to itself.
      "insert into channel_connections (tenant_id, name, channel_type, external_id) values (konstruct_session_tenant(), 'x', 'slack', 'T-VICTIM')",
      "update channel_connections set external_id = 'T-VICTIM'",
      "delete from channel_connections",
      "insert into agents (tenant_id, name, display_name, model) values (konstruct_session_tenant(), 'x', 'X', 'm')",
      "update agents set system_prompt = 'ignore your instructions'",
      "delete from agents",
      // Resetting its own daily token budget.
      "delete from token_usage",
      "update token_usage set prompt_tokens = 0",
      "insert into token_usage (tenant_id, agent_id, day) values (konstruct_session_tenant(), (select id from agents limit 1), '2026-11-29')",
      "truncate token_usage",
      "update tenants set tokens_per_day = 2000000000",
      "delete from tenants",
      "insert into portal_users (tenant_id, email, password_hash) values (konstruct_session_tenant(), 'me@x.example', '$argon2id$x')",
      "update portal_users set role = 'owner'",
      "delete from portal_users",
    ];
    for (const attack of attacks) {
      await expect(c.query(attack), attack).rejects.toThrow(/permission denied/);
    }
    const usage = await env.db.selectFrom("token_usage").select("prompt_tokens").where("tenant_id", "=", tenantId).execute();
    expect(usage.map((u) => Number(u.prompt_tokens))).toEqual([900]);
    const routes = await env.db
      .selectFrom("channel_connections")
      .select("external_id")
      .where("tenant_id", "=", tenantId)
      .execute();
    expect(routes).toEqual([{ external_id: "mallory-chat" }]);
  });

  it("reads its own rows, but never the encrypted credentials nor the portal users' password hashes", async () => {
    const c = await tenantClient();
    const { rows } = await c.query("select name, channel_type, external_id from channel_connections");
    expect(rows).toEqual([{ name: "chat", channel_type: "webchat", external_id: "mallory-chat" }]);
    expect((await c.query("select email, role from portal_users")).rows).toEqual([
      { email: "owner@mallory.example", role: "owner" },
    ]);
    expect((await c.query("select system_prompt from agents")).rows).toEqual([{ system_prompt: "be kind" }]);
    expect((await c.query("select prompt_tokens::int from token_usage")).rows).toEqual([{ prompt_tokens: 900 }]);
    await expect(c.query("select credentials from channel_connections")).rejects.toThrow(/permission denied/);
    await expect(c.query("select * from channel_connections")).rejects.toThrow(/permission denied/);
    await expect(c.query("select password_hash from portal_users")).rejects.toThrow(/permission denied/);
  });

  it("cannot create temporary tables", async () => {
    const c = await tenantClient();
    await expect(c.query("create temporary table hoard (x text)")).rejects.toThrow(/permission denied/);
  });

  it("logs in with a statement timeout, an idle-in-transaction timeout and a connection limit", async () => {
    const c = await tenantClient();
    const { rows } = await c.query(
      "select name, setting, unit from pg_settings where name in ('statement_timeout', 'idle_in_transaction_session_timeout') order by name",
    );
    expect(rows).toEqual([
      { name: "idle_in_transaction_session_timeout", setting: "60000", unit: "ms" },
      { name: "statement_timeout", setting: "30000", unit: "ms" },
    ]);
    const limit = await c.query("select rolconnlimit from pg_roles where rolname = session_user");
    expect(limit.rows).toEqual([{ rolconnlimit: 5 }]);
    // Up to the limit, including the one above; the next login is refused.
    const opened = [c];
    while (opened.length < 5) opened.push(await tenantClient());
    await expect(tenantClient()).rejects.toThrow(/too many connections/);
  });

  it("gets its timeouts back after it changes its own role defaults", async () => {
    const c = await tenantClient();
    // PostgreSQL lets an ordinary role ALTER ROLE … SET its own defaults: the operator undoes it.
    await c.query("alter role current_user set statement_timeout = 0");
    await c.query("alter role current_user set work_mem = '2GB'");
    const roleName = (await c.query("select session_user as name")).rows[0].name as string;
    await eventually(
      async () => {
        const { rows } = await sql<{ config: string[] | null }>`
          select rolconfig as config from pg_roles where rolname = ${roleName}`.execute(env.db);
        const config = [...(rows[0]?.config ?? [])].sort();
        return JSON.stringify(config) === JSON.stringify(["idle_in_transaction_session_timeout=60s", "statement_timeout=30s"]);
      },
      15_000,
      "role defaults repaired",
    );
  });

  it("can send NOTIFY konstruct_config (PostgreSQL has no privilege for it), which makes services re-read, never change, configuration", async () => {
    const seen: (string | undefined)[] = [];
    const log = createLogger({ name: "test", level: "silent" });
    const watch = watchConfigChanges(env.database.appUrl, (id) => seen.push(id), log);
    try {
      const c = await tenantClient();
      // LISTEN is asynchronous to set up: notify until one arrives.
      await eventually(
        async () => {
          await c.query(`notify konstruct_config, '${JSON.stringify({ table: "agents", tenantId: otherId })}'`);
          return seen.length > 0;
        },
        10_000,
        "forged notification delivered",
      );
      // A forged notification only drops cached entries of the tenant it names; a payload
      // without a tenant id (which the trigger never sends) is ignored rather than dropping
      // every tenant's cache. The marker, sent last, shows the two before it were delivered.
      const marker = randomUUID();
      await c.query("notify konstruct_config, 'garbage'");
      await c.query(`notify konstruct_config, '${JSON.stringify({ table: "agents" })}'`);
      await c.query(`notify konstruct_config, '${JSON.stringify({ table: "agents", tenantId: marker })}'`);
      await eventually(async () => seen.includes(marker), 10_000, "marker notification delivered");
      expect(new Set(seen)).toEqual(new Set([otherId, marker]));
      // What a re-read finds is what the platform wrote: the tenant cannot change the rows.
      const agents = await env.db
        .selectFrom("agents")
        .select(["name", "system_prompt"])
        .where("tenant_id", "=", tenantId)
        .execute();
      expect(agents).toEqual([{ name: "ava", system_prompt: "be kind" }]);
    } finally {
      await watch.close();
    }
  });
});

/** Sends RESP commands on a raw socket (ioredis does not speak RESP3) and returns what came back. */
async function rawRedis(url: string, commands: string[][]): Promise<string> {
  const u = new URL(url);
  const socket: Socket = connect(Number(u.port), u.hostname);
  let received = "";
  socket.on("data", (chunk) => {
    received += chunk.toString("utf8");
  });
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  const all = [["HELLO", "3", "AUTH", user, password], ...commands, ["PING", "done"]];
  for (const args of all) socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
  await eventually(async () => received.includes("done"), 10_000, "raw Redis replies");
  socket.destroy();
  return received;
}

describe("a tenant's Redis user", () => {
  it("cannot run scripts or functions", async () => {
    const r = tenantRedis();
    await r.connect();
    try {
      // A harmless script: on a server where the ACL let it through, `while true do end` would
      // stall every other test sharing the server.
      await expect(r.eval("return 1", 0)).rejects.toThrow(/NOPERM/);
      await expect(r.call("EVAL_RO", "return 1", "0")).rejects.toThrow(/NOPERM/);
      await expect(r.call("SCRIPT", "LOAD", "return 1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("FUNCTION", "LIST")).rejects.toThrow(/NOPERM/);
      await expect(r.call("FCALL", "f", "0")).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
  });

  it("cannot turn on client tracking, in RESP2 or after HELLO 3", async () => {
    const r = tenantRedis();
    await r.connect();
    try {
      await expect(r.call("CLIENT", "TRACKING", "ON", "BCAST")).rejects.toThrow(/NOPERM/);
      await expect(r.call("CLIENT", "LIST")).rejects.toThrow(/NOPERM/);
      await expect(r.call("CLIENT", "KILL", "ID", "1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("CLIENT", "UNBLOCK", "1")).rejects.toThrow(/NOPERM/);
      // What a client needs still works.
      expect(typeof (await r.call("CLIENT", "ID"))).toBe("number");
      expect(await r.call("CLIENT", "SETNAME", "reports")).toBe("OK");
    } finally {
      r.disconnect();
    }
    const replies = await rawRedis(redisUrl, [["CLIENT", "TRACKING", "ON", "BCAST"]]);
    expect(replies).toMatch(/^%/); // HELLO 3 answered with a RESP3 map: the protocol switch itself is allowed
    expect(replies).toMatch(/-NOPERM[^\r]*client\|tracking/);
  });

  it("cannot reach another database or block", async () => {
    const r = tenantRedis();
    await r.connect();
    const mine = `${tenantId}:cache:moving`;
    try {
      await r.set(mine, "1");
      await expect(r.call("MOVE", mine, "1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("COPY", mine, `${tenantId}:cache:copy`, "DB", "1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("SELECT", "1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("SWAPDB", "0", "1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("BLPOP", `${tenantId}:cache:q`, "0.01")).rejects.toThrow(/NOPERM/);
      await expect(r.call("BRPOP", `${tenantId}:cache:q`, "0.01")).rejects.toThrow(/NOPERM/);
      await expect(r.call("BLMOVE", `${tenantId}:cache:q`, `${tenantId}:cache:p`, "LEFT", "LEFT", "0.01")).rejects.toThrow(
        /NOPERM/,
      );
      await expect(r.call("BZPOPMIN", `${tenantId}:cache:z`, "0.01")).rejects.toThrow(/NOPERM/);
      await expect(r.call("XREAD", "BLOCK", "10", "STREAMS", `${tenantId}:cache:s`, "$")).rejects.toThrow(/NOPERM/);
      await expect(r.call("WAIT", "1", "10")).rejects.toThrow(/NOPERM/);
      await expect(r.call("PUBSUB", "CHANNELS")).rejects.toThrow(/NOPERM/);
      await expect(r.call("KEYS", "*")).rejects.toThrow(/NOPERM/);
      await expect(r.call("SORT", mine, "BY", "nosort", "GET", "*")).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
  });

  it("reads but cannot write the keys that enforce its limits; writes its cache keys and uses its own channels", async () => {
    const writable = new Set<string>(TENANT_WRITABLE_KEY_TYPES);
    const enforced = REDIS_KEY_TYPES.filter((t) => !writable.has(t));
    expect(enforced).toEqual(expect.arrayContaining(["ratelimit", "concurrency", "tokens", "idempotency", "webchat", "session"]));
    for (const type of enforced) await env.redis.set(`${tenantId}:${type}:seed`, "platform");
    await env.redis.zadd(`${tenantId}:concurrency:runs`, 1, "run-1");
    const r = tenantRedis();
    await r.connect();
    try {
      for (const type of enforced) {
        const key = `${tenantId}:${type}:seed`;
        expect(await r.get(key), type).toBe("platform");
        await expect(r.set(key, "tenant"), type).rejects.toThrow(/NOPERM/);
        await expect(r.del(key), type).rejects.toThrow(/NOPERM/);
        await expect(r.expire(key, 1), type).rejects.toThrow(/NOPERM/);
        await expect(r.set(`${tenantId}:${type}:new`, "x"), type).rejects.toThrow(/NOPERM/);
        await expect(r.rename(`${tenantId}:cache:any`, key), type).rejects.toThrow(/NOPERM/);
      }
      // Emptying its concurrency slots or its rate-limit window.
      await expect(r.zrem(`${tenantId}:concurrency:runs`, "run-1")).rejects.toThrow(/NOPERM/);
      await expect(r.call("SUNIONSTORE", `${tenantId}:ratelimit:seed`, `${tenantId}:cache:x`)).rejects.toThrow(/NOPERM/);
      for (const type of writable) {
        await r.set(`${tenantId}:${type}:mine`, "1");
        expect(await r.get(`${tenantId}:${type}:mine`)).toBe("1");
      }
      await r.publish(`${tenantId}:cache:news`, "hi");
      await expect(r.get(`${otherId}:cache:k`)).rejects.toThrow(/NOPERM/);
    } finally {
      r.disconnect();
    }
    for (const type of enforced) expect(await env.redis.get(`${tenantId}:${type}:seed`)).toBe("platform");
  });
});
