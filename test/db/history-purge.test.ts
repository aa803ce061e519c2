import { randomUUID } from "node:crypto";
import { createDatabase, createLogger, type Database } from "@konstruct/core";
import { type PurgeResult, purgeHistory, startHistoryPurge } from "@konstruct/operator/runtime";
import { countHistoryByDay, createTestDatabase, serverUrl, type TestDatabase } from "@konstruct/testkit";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The retention purge against a real PostgreSQL: what it deletes per tenant, how it keeps the
// conversations' counters, and which role it can run as.

const DAY = 86_400_000;
let t: TestDatabase;
let purger: { name: string; db: Kysely<Database> } | undefined;

beforeAll(async () => {
  t = await createTestDatabase("purge");
});

afterAll(async () => {
  await purger?.db.destroy();
  await t?.drop();
  if (purger) {
    const c = new pg.Client({ connectionString: serverUrl("DATABASE_ADMIN_URL") });
    await c.connect();
    await c.query(`drop role if exists ${c.escapeIdentifier(purger.name)}`);
    await c.end();
  }
});

interface Seeded {
  tenantId: string;
  /** Message keys by conversation, each message `ageDays` old. */
  conversations: Record<string, string>;
}

/** A tenant keeping `retentionDays`, with conversations whose messages are the given ages (days). */
async function seed(retentionDays: number, threads: Record<string, number[]>): Promise<Seeded> {
  const tenantId = randomUUID();
  const name = `p-${tenantId.slice(0, 8)}`;
  await t.admin
    .insertInto("tenants")
    .values({
      id: tenantId,
      name,
      display_name: name,
      namespace: `konstruct-${name}`,
      history_retention_days: retentionDays,
      updated_at: new Date(),
    })
    .execute();
  const conversations: Record<string, string> = {};
  const now = Date.now();
  for (const [thread, ages] of Object.entries(threads)) {
    const times = ages.map((age) => new Date(now - age * DAY));
    const { id } = await t.admin
      .insertInto("conversations")
      .values({
        tenant_id: tenantId,
        channel_type: "slack",
        thread_key: `T/${thread}`,
        started_at: new Date(Math.min(...times.map(Number))),
        last_message_at: new Date(Math.max(...times.map(Number))),
        message_count: ages.length,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    conversations[thread] = id;
    if (times.length === 0) continue;
    await t.admin
      .insertInto("conversation_messages")
      .values(
        times.map((created_at, i) => ({
          tenant_id: tenantId,
          conversation_id: id,
          message_key: `${thread}:${i}`,
          direction: i % 2 === 0 ? ("inbound" as const) : ("reply" as const),
          text: `${thread} message ${i}`,
          created_at,
        })),
      )
      .execute();
  }
  // Written by hand, so counted by hand (the product's writer counts as it writes).
  await countHistoryByDay(t.admin, tenantId);
  return { tenantId, conversations };
}

/** What is left of a tenant's history: per thread, its message keys and its message_count. */
async function left(tenantId: string): Promise<Record<string, { keys: string[]; count: number }>> {
  const conversations = await t.admin
    .selectFrom("conversations")
    .select(["id", "thread_key", "message_count"])
    .where("tenant_id", "=", tenantId)
    .execute();
  const result: Record<string, { keys: string[]; count: number }> = {};
  for (const c of conversations) {
    const keys = await t.admin
      .selectFrom("conversation_messages")
      .select("message_key")
      .where("conversation_id", "=", c.id)
      .orderBy("message_key")
      .execute();
    result[c.thread_key.slice(2)] = { keys: keys.map((k) => k.message_key), count: c.message_count };
  }
  return result;
}

describe("the history purge", () => {
  it("deletes exactly what is past each tenant's retention, in batches, and the conversations left empty", async () => {
    // Ages straddle each tenant's cut-off by a day; 300 old messages take several batches.
    const week = await seed(7, {
      old: [30, 20, 8],
      mixed: [10, 8, 6, 1],
      recent: [6, 0],
      bulk: Array.from({ length: 300 }, () => 9),
    });
    const year = await seed(365, { old: [400, 366], mixed: [366, 364, 8], recent: [30, 1] });
    const result = await purgeHistory(t.admin, { batchSize: 64 });
    expect(result).toMatchObject({ messages: 3 + 2 + 300 + 2 + 1, conversations: 3 });

    expect(await left(week.tenantId)).toEqual({
      mixed: { keys: ["mixed:2", "mixed:3"], count: 2 },
      recent: { keys: ["recent:0", "recent:1"], count: 2 },
    });
    expect(await left(year.tenantId)).toEqual({
      mixed: { keys: ["mixed:1", "mixed:2"], count: 2 },
      recent: { keys: ["recent:0", "recent:1"], count: 2 },
    });

    // The per-day counts are usage, not content: the purge leaves them (3 + 4 + 2 + 300 seeded).
    const counted = await t.admin
      .selectFrom("conversation_daily_counts")
      .select(sql<string>`sum(messages)`.as("n"))
      .where("tenant_id", "=", week.tenantId)
      .executeTakeFirstOrThrow();
    expect(Number(counted.n)).toBe(309);

    // A second pass finds nothing.
    expect(await purgeHistory(t.admin, { batchSize: 64 })).toEqual({ tenants: 0, messages: 0, conversations: 0 });
  });

  it("follows a shortened retention at the next pass", async () => {
    const tenant = await seed(90, { a: [40, 20, 2] });
    expect((await purgeHistory(t.admin)).messages).toBe(0);
    await t.admin.updateTable("tenants").set({ history_retention_days: 30 }).where("id", "=", tenant.tenantId).execute();
    await purgeHistory(t.admin);
    expect(await left(tenant.tenantId)).toEqual({ a: { keys: ["a:1", "a:2"], count: 2 } });
  });

  it("stops between batches when asked (leadership lost), leaving the rest for the next pass", async () => {
    // Alone in the database, so the only batches are this tenant's.
    await t.admin.deleteFrom("tenants").execute();
    const tenant = await seed(1, { a: Array.from({ length: 50 }, () => 3) });
    let checks = 0;
    const first = await purgeHistory(t.admin, { batchSize: 10, stopped: () => ++checks > 2 });
    expect(first.messages).toBe(20);
    expect((await left(tenant.tenantId)).a?.count).toBe(30);
    await purgeHistory(t.admin, { batchSize: 10 });
    expect(await left(tenant.tenantId)).toEqual({});
  });

  it("runs at once when started, then on its interval, and stops cleanly", async () => {
    const tenant = await seed(1, { a: [5], b: [0] });
    const results: PurgeResult[] = [];
    const running = startHistoryPurge({
      db: t.admin,
      log: createLogger({ name: "purge-test", level: "silent" }),
      intervalMs: 200,
      onPurged: (r) => results.push(r),
    });
    try {
      const deadline = Date.now() + 5_000;
      while (results.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await running.stop();
    }
    expect(results.length).toBeGreaterThanOrEqual(2);
    expect(await left(tenant.tenantId)).toEqual({ b: { keys: ["b:0"], count: 1 } });
  });

  it("works as konstruct_operator, the role the operator connects as (its policies, not BYPASSRLS)", async () => {
    const tenant = await seed(7, { a: [8, 1], gone: [9] });
    const operator = createDatabase(t.operatorUrl, { max: 1 });
    try {
      await purgeHistory(operator);
    } finally {
      await operator.destroy();
    }
    expect(await left(tenant.tenantId)).toEqual({ a: { keys: ["a:1"], count: 1 } });
  });

  it("works for a non-superuser role with BYPASSRLS and only the grants it documents", async () => {
    const tenant = await seed(7, { a: [8, 1], gone: [9] });
    const name = `konstruct_purger_${t.name}`.slice(0, 63);
    const password = randomUUID();
    await sql.raw(`create role ${name} login bypassrls password '${password}'`).execute(t.admin);
    // What purgeHistory's comment lists, and nothing more.
    await sql.raw(`grant select on tenants to ${name}`).execute(t.admin);
    await sql.raw(`grant select, delete on conversation_messages to ${name}`).execute(t.admin);
    await sql.raw(`grant select, update, delete on conversations to ${name}`).execute(t.admin);
    purger = { name, db: createDatabase(t.urlFor(name, password), { max: 1 }) };
    await purgeHistory(purger.db);
    expect(await left(tenant.tenantId)).toEqual({ a: { keys: ["a:1"], count: 1 } });
  });

  it("the app role cannot purge: with no tenant set it sees no rows, and it holds no cross-tenant way in", async () => {
    const tenant = await seed(7, { a: [8] });
    expect(await purgeHistory(t.app)).toEqual({ tenants: 0, messages: 0, conversations: 0 });
    expect(await left(tenant.tenantId)).toEqual({ a: { keys: ["a:0"], count: 1 } });
  });
});
