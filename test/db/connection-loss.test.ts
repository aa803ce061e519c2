import { createDatabase } from "@konstruct/core";
import { createTestDatabase, startTcpProxy, type TcpProxy, type TestDatabase } from "@konstruct/testkit";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestDatabase;
let proxy: TcpProxy;

beforeAll(async () => {
  t = await createTestDatabase("loss");
  proxy = await startTcpProxy(new URL(t.adminUrl));
});
afterAll(async () => {
  await proxy?.close();
  await t?.drop();
});

describe("a connection that drops in the middle of a query", () => {
  it("fails that query and leaves the process and the pool working", async () => {
    const db = createDatabase(proxy.url, { max: 2 });
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    // Vitest reports an uncaught error as a failed run; this listener also names it here.
    process.on("uncaughtException", record);
    try {
      const slow = sql`select pg_sleep(5)`.execute(db);
      // Wait until the query is running on the server, then cut the connection under it.
      for (;;) {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(5)' and state = 'active'`.execute(
          t.admin,
        );
        if (rows[0]?.n === 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      proxy.block();
      await expect(slow).rejects.toThrow(/Connection terminated/);
      await new Promise((r) => setTimeout(r, 100));
      expect(uncaught).toEqual([]);

      proxy.unblock();
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      process.off("uncaughtException", record);
      await db.destroy();
    }
  });
});
