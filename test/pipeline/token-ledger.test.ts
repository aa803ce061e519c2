import { createDatabase, createLogger, type Database } from "@konstruct/core";
import { createTokenLedger, usageDay } from "@konstruct/orchestrator";
import { createTestDatabase, type SeededTenant, seedTenant, type TestDatabase } from "@konstruct/testkit";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The orchestrator's batched token accounting against real PostgreSQL under FORCE RLS, as the
// app role: many runs become one statement, each row sums its runs, nothing is counted twice
// or lost while PostgreSQL refuses, and a graceful stop writes what is queued.

let testDb: TestDatabase;
let tenants: SeededTenant[];
const log = createLogger({ name: "token-ledger-test", level: "silent" });

beforeAll(async () => {
  testDb = await createTestDatabase("ledger");
  tenants = await Promise.all(
    [0, 1].map(() =>
      seedTenant(testDb.admin, {
        agents: [
          { name: "ada", displayName: "Ada", isDefault: true },
          { name: "bob", displayName: "Bob" },
        ],
      }),
    ),
  );
});

afterAll(async () => {
  await testDb?.drop();
});

/** The app role's database, counting the statements it sends. */
function countingDb(): { db: Kysely<Database>; statements: () => number; destroy: () => Promise<void> } {
  let statements = 0;
  const pool = new pg.Pool({ connectionString: testDb.appUrl, max: 2 });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === "query") statements++;
    },
  });
  return { db, statements: () => statements, destroy: () => db.destroy() };
}

async function usage(tenantId: string) {
  return testDb.admin
    .selectFrom("token_usage")
    .select(["agent_id", "prompt_tokens", "completion_tokens", "runs"])
    .where("tenant_id", "=", tenantId)
    .where("day", "=", usageDay())
    .orderBy("agent_id")
    .execute();
}

describe("batched token accounting", () => {
  it("writes 300 runs of two tenants and four agents as one statement, each row summing its runs", async () => {
    const { db, statements, destroy } = countingDb();
    const ledger = createTokenLedger({ db, log, intervalMs: 60_000, maxRuns: 10_000 });
    try {
      for (let i = 0; i < 300; i++) {
        const t = tenants[i % 2]!;
        await ledger.add(t.tenantId, i % 4 < 2 ? t.agents.ada! : t.agents.bob!, { prompt: 10, completion: 1 });
      }
      // Nothing written yet: the batch waits for its interval or size.
      expect(statements()).toBe(0);
      expect(await usage(tenants[0]!.tenantId)).toEqual([]);
      await ledger.flush();
      expect(statements()).toBe(1);
      for (const t of tenants) {
        const rows = await usage(t.tenantId);
        expect(rows.map((r) => r.runs)).toEqual([75, 75]);
        expect(rows.map((r) => [Number(r.prompt_tokens), Number(r.completion_tokens)])).toEqual([
          [750, 75],
          [750, 75],
        ]);
      }
      // A second flush with nothing queued writes nothing and counts nothing twice.
      await ledger.flush();
      expect(statements()).toBe(1);
      expect((await usage(tenants[0]!.tenantId)).map((r) => r.runs)).toEqual([75, 75]);
    } finally {
      await ledger.close();
      await destroy();
      await testDb.admin.deleteFrom("token_usage").execute();
    }
  });

  it("starts a write when maxRuns are queued, and writes the rest on close", async () => {
    const db = createDatabase(testDb.appUrl, { max: 2 });
    const ledger = createTokenLedger({ db, log, intervalMs: 60_000, maxRuns: 50 });
    const t = tenants[0]!;
    try {
      for (let i = 0; i < 70; i++) await ledger.add(t.tenantId, t.agents.ada!, { prompt: 2, completion: 3 });
      await expect.poll(async () => (await usage(t.tenantId))[0]?.runs, { timeout: 5_000 }).toBe(50);
      await ledger.close();
      expect((await usage(t.tenantId))[0]?.runs).toBe(70);
    } finally {
      await db.destroy();
      await testDb.admin.deleteFrom("token_usage").execute();
    }
  });

  it("keeps the counts while PostgreSQL refuses the write and writes them, once, when it answers again", async () => {
    const t = tenants[1]!;
    // The app role loses its right to record tokens: every write fails as a database outage would.
    const fn = sql.raw("konstruct_record_tokens(uuid, uuid, date, bigint, bigint, integer)");
    const revoke = (verb: "revoke" | "grant") =>
      (verb === "revoke"
        ? sql`revoke execute on function ${fn} from konstruct_app`
        : sql`grant execute on function ${fn} to konstruct_app`
      ).execute(testDb.admin);
    const db = createDatabase(testDb.appUrl, { max: 2 });
    const ledger = createTokenLedger({ db, log, intervalMs: 60_000, maxRuns: 10_000 });
    try {
      await revoke("revoke");
      for (let i = 0; i < 10; i++) await ledger.add(t.tenantId, t.agents.ada!, { prompt: 1, completion: 1 });
      await expect(ledger.flush()).rejects.toThrow();
      await ledger.add(t.tenantId, t.agents.ada!, { prompt: 1, completion: 1 });
      await expect(ledger.flush()).rejects.toThrow();
      expect(await usage(t.tenantId)).toEqual([]);
      await revoke("grant");
      await ledger.flush();
      expect((await usage(t.tenantId)).map((r) => [r.runs, Number(r.prompt_tokens)])).toEqual([[11, 11]]);
    } finally {
      await revoke("grant");
      await ledger.close();
      await db.destroy();
    }
  });
});
