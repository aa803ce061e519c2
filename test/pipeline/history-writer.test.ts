import { randomUUID } from "node:crypto";
import { createDatabase, createLogger, type Database } from "@konstruct/core";
import {
  createHistoryWriter,
  type HistoryExchange,
  type HistoryWriter,
  historyExchange,
  historyRecord,
  outboundReply,
  type SettledReply,
} from "@konstruct/orchestrator";
import { createTestDatabase, inboundMessage, type SeededTenant, seedTenant, type TestDatabase } from "@konstruct/testkit";
import { type Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { historyRows, routedWorkItem } from "./harness.ts";

// The orchestrator's group commit of the conversation history (history-writer.ts) against real
// PostgreSQL as the app role: exchanges that meet share one transaction, each row still under its
// own tenant's RLS, a repeat inserts nothing, and one bad exchange fails only its own run.

let testDb: TestDatabase;
let app: Kysely<Database>;
let acme: SeededTenant;
let globex: SeededTenant;
const log = createLogger({ name: "history-writer-test", level: "silent" });

beforeAll(async () => {
  testDb = await createTestDatabase("histw");
  app = createDatabase(testDb.appUrl, { max: 2 });
  [acme, globex] = await Promise.all([
    seedTenant(testDb.admin, { agents: [{ name: "ada", displayName: "Ada", isDefault: true }] }),
    seedTenant(testDb.admin, { agents: [{ name: "grace", displayName: "Grace", isDefault: true }] }),
  ]);
});

afterAll(async () => {
  await app?.destroy();
  await testDb?.drop();
});

const answer: SettledReply = {
  kind: "answer",
  text: "",
  model: "llama3.2",
  promptTokens: 10,
  completionTokens: 5,
  latencyMs: 90,
};

/** One run's exchange for `tenant`, in thread `thread`, as the orchestrator builds it. */
function exchange(tenant: SeededTenant, agent: string, text: string, thread: string): HistoryExchange {
  const { item } = routedWorkItem(tenant, inboundMessage(tenant, { text, threadId: thread }), tenant.agents[agent] as string);
  const reply = { ...answer, text: `re: ${text}` };
  const sent = outboundReply(item, "answer", reply.text, { id: item.agentId, displayName: agent });
  return historyExchange(item, text, reply, sent);
}

/** A message's text without the Slack mention inboundMessage puts first. */
const plain = (text: string) => text.replace(/^<@[A-Z0-9]+> /, "");
const textsOf = async (tenantId: string) => (await historyRows(testDb.admin, tenantId)).map((r) => plain(r.text));

/** The transaction ids that wrote a tenant's messages (xmin), one per commit. */
async function commitsOf(tenantId: string): Promise<Set<string>> {
  const { rows } = await sql<{
    xmin: string;
  }>`select xmin::text as xmin from conversation_messages where tenant_id = ${tenantId}`.execute(testDb.admin);
  return new Set(rows.map((r) => r.xmin));
}

describe("the history writer's group commit", () => {
  let writer: HistoryWriter;
  beforeAll(() => {
    writer = createHistoryWriter({ db: app, log, lingerMs: 50 });
  });
  afterAll(() => writer.close());

  it("writes exchanges of two tenants that meet in one commit, each under its own tenant, two to a thread in order", async () => {
    const thread = `${Date.now()}.000100`;
    const list = [
      exchange(acme, "ada", "acme one", thread),
      exchange(globex, "grace", "globex one", `${Date.now()}.000200`),
      exchange(acme, "ada", "acme two", thread),
    ];
    expect(await Promise.all(list.map((x) => writer.record(x)))).toEqual([2, 2, 2]);

    const acmeRows = await historyRows(testDb.admin, acme.tenantId);
    expect(acmeRows.map((r) => plain(r.text))).toEqual(["acme one", "re: acme one", "acme two", "re: acme two"]);
    // One conversation for the thread, counting all four rows.
    expect(new Set(acmeRows.map((r) => r.conversation_id)).size).toBe(1);
    expect(acmeRows.every((r) => r.message_count === 4)).toBe(true);
    expect(await textsOf(globex.tenantId)).toEqual(["globex one", "re: globex one"]);
    // One transaction wrote all three exchanges.
    const acmeCommits = await commitsOf(acme.tenantId);
    expect(acmeCommits.size).toBe(1);
    expect(await commitsOf(globex.tenantId)).toEqual(acmeCommits);

    // Each tenant's rows carry its own id: read as each tenant, neither sees the other's.
    const seen = async (tenantId: string) =>
      app.transaction().execute(async (trx) => {
        await sql`select set_config('app.current_tenant', ${tenantId}, true)`.execute(trx);
        return (await trx.selectFrom("conversation_messages").select("text").orderBy("created_at").execute()).map((r) =>
          plain(r.text),
        );
      });
    expect(await seen(globex.tenantId)).toEqual(["globex one", "re: globex one"]);
    expect(await seen(acme.tenantId)).not.toContain("globex one");
  });

  it("inserts nothing for a redelivery's repeat, grouped or not", async () => {
    const x = exchange(acme, "ada", "say it once", `${Date.now()}.000300`);
    expect(await writer.record(x)).toBe(2);
    expect(await Promise.all([writer.record(x), writer.record(x)])).toEqual([0, 0]);
    const rows = (await historyRows(testDb.admin, acme.tenantId)).filter((r) => r.text.endsWith("say it once"));
    expect(rows).toHaveLength(2);
    expect(rows[0]?.message_count).toBe(2);
  });

  it("fails only the bad exchange of a group: the others are written", async () => {
    // A tenant that does not exist: its conversation's foreign key fails the grouped statement.
    const ghost = { ...exchange(acme, "ada", "from nowhere", `${Date.now()}.000400`), tenantId: randomUUID() };
    const good = [
      exchange(acme, "ada", "good one", `${Date.now()}.000500`),
      exchange(globex, "grace", "good two", `${Date.now()}.000600`),
    ];
    const results = await Promise.allSettled([
      writer.record(good[0] as HistoryExchange),
      writer.record(ghost),
      writer.record(good[1] as HistoryExchange),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(results[0]).toEqual({ status: "fulfilled", value: 2 });
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/foreign key|violates/);
    expect(await textsOf(acme.tenantId)).toContain("good one");
    expect(await textsOf(globex.tenantId)).toContain("good two");
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from conversation_messages where text like '%from nowhere'`.execute(testDb.admin);
    expect(rows[0]?.n).toBe(0);
  });

  it("writes what is queued when closed, and an exchange alone when nothing else comes", async () => {
    const lone = createHistoryWriter({ db: app, log, lingerMs: 10_000 });
    const pending = lone.record(exchange(acme, "ada", "written on close", `${Date.now()}.000700`));
    await lone.close();
    expect(await pending).toBe(2);

    const quick = createHistoryWriter({ db: app, log, lingerMs: 0 });
    const before = await commitsOf(globex.tenantId);
    expect(await quick.record(exchange(globex, "grace", "alone", `${Date.now()}.000800`))).toBe(2);
    expect((await commitsOf(globex.tenantId)).size).toBe(before.size + 1);
    await quick.close();
  });
});

describe("konstruct_record_histories, the set-based write behind the group commit", () => {
  const call = (tenantId: string, exchanges: object[]) =>
    sql<{ exchange_index: number; messages_inserted: number }>`
      select * from konstruct_record_histories(${tenantId}::uuid, ${JSON.stringify(exchanges)}::jsonb)`.execute(app);
  /** One exchange as the writer sends it (history-writer.ts), in `thread`. */
  const record = (tenant: SeededTenant, n: number, thread: string, text: string) =>
    historyRecord(exchange(tenant, "ada", text, thread), n);

  it("refuses two exchanges of one thread in one call, writing nothing", async () => {
    const thread = `${Date.now()}.000900`;
    await expect(
      call(acme.tenantId, [record(acme, 0, thread, "first of two"), record(acme, 1, thread, "second of two")]),
    ).rejects.toThrow(/one exchange per thread/);
    expect(await textsOf(acme.tenantId)).not.toContain("first of two");
  });

  it("counts each message once per day and agent, and a repeat not at all", async () => {
    const counted = async () => {
      const { rows } = await sql<{ n: string }>`
        select coalesce(sum(messages), 0) as n from conversation_daily_counts where tenant_id = ${globex.tenantId}`.execute(
        testDb.admin,
      );
      return Number(rows[0]?.n);
    };
    const before = await counted();
    const list = [record(globex, 0, `${Date.now()}.001000`, "count me"), record(globex, 1, `${Date.now()}.001100`, "and me")];
    const first = await call(globex.tenantId, list);
    expect(first.rows.map((r) => [r.exchange_index, r.messages_inserted]).sort()).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(await counted()).toBe(before + 4);
    const again = await call(globex.tenantId, list);
    expect(again.rows.map((r) => r.messages_inserted)).toEqual([0, 0]);
    expect(await counted()).toBe(before + 4);
  });

  it("never reports an exchange written whose conversation is gone at the lookup: the call fails whole, the writer retries run by run", async () => {
    // Stands in for the retention purge deleting a conversation between the function's two
    // statements: this thread's conversation is never stored, so the lookup cannot find it.
    await sql`create function test_lose_conversation() returns trigger language plpgsql as $$ begin return null; end $$`.execute(
      testDb.admin,
    );
    await sql`create trigger test_lose_conversation before insert on conversations for each row
      when (new.thread_key like '%.999999') execute function test_lose_conversation()`.execute(testDb.admin);
    try {
      const good = record(acme, 0, `${Date.now()}.001300`, "beside the lost one");
      const lost = record(acme, 1, "1700000000.999999", "its conversation is lost");
      await expect(call(acme.tenantId, [good, lost])).rejects.toThrow(/vanished/);
      expect(await textsOf(acme.tenantId)).not.toContain("beside the lost one");

      // Through the writer: grouped, the call fails, and each run is written on its own. The good
      // one lands; the lost one fails (its run is redelivered), never acknowledged as a repeat.
      const writer = createHistoryWriter({ db: app, log, lingerMs: 50 });
      const results = await Promise.allSettled([
        writer.record(exchange(acme, "ada", "beside the lost one", `${Date.now()}.001300`)),
        writer.record(exchange(acme, "ada", "its conversation is lost", "1700000000.999999")),
      ]);
      await writer.close();
      expect(results[0]).toEqual({ status: "fulfilled", value: 2 });
      expect(results[1]?.status).toBe("rejected");
      expect(await textsOf(acme.tenantId)).not.toContain("its conversation is lost");
    } finally {
      await sql`drop trigger test_lose_conversation on conversations`.execute(testDb.admin);
      await sql`drop function test_lose_conversation()`.execute(testDb.admin);
    }
  });

  it("writes nothing of another tenant: an exchange's rows take the call's tenant, under its RLS", async () => {
    // acme's call carrying a globex connection and agent: the rows are acme's (the tenant is the
    // call's), so globex's history does not grow.
    const before = await textsOf(globex.tenantId);
    const smuggled = { ...record(globex, 0, `${Date.now()}.001200`, "smuggled"), agent: acme.agents.ada };
    await call(acme.tenantId, [smuggled]);
    expect(await textsOf(globex.tenantId)).toEqual(before);
    expect(await textsOf(acme.tenantId)).toContain("smuggled");
  });
});
