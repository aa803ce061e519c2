import { createDatabase } from "@konstruct/core";
import { migrateToLatest, migrations } from "@konstruct/migrations";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase("mig");
});
afterAll(async () => {
  await t?.drop();
});

describe("migrations", () => {
  it("re-running is a no-op", async () => {
    const again = await migrateToLatest(t.admin);
    expect(again.results).toEqual([]);
  });

  it("two migrators started at once leave one applied schema", async () => {
    // A second empty database, migrated by two independent pools at the same moment.
    const fresh = await createFreshDatabase();
    const one = createDatabase(fresh.url, { max: 1 });
    const two = createDatabase(fresh.url, { max: 1 });
    try {
      const [a, b] = await Promise.all([migrateToLatest(one), migrateToLatest(two)]);
      const applied = [...(a.results ?? []), ...(b.results ?? [])].filter((r) => r.status === "Success");
      expect(applied.map((r) => r.migrationName).sort()).toEqual(Object.keys(migrations).sort());
      const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(one);
      expect(rows.rows.map((r) => r.name)).toEqual(Object.keys(migrations).sort());
      const policies = await sql<{ n: number }>`select count(*)::int as n from pg_policies where schemaname = 'public'`.execute(
        one,
      );
      // Two per tenant-scoped table (app, tenant role), and the operator's on the five it writes or cascades to.
      expect(policies.rows[0]?.n).toBe(15);
    } finally {
      await one.destroy();
      await two.destroy();
      await fresh.drop();
    }
  });
});

async function createFreshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${t.name}_fresh`;
  await sql`create database ${sql.id(name)}`.execute(t.admin);
  const url = new URL(t.adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await sql`drop database if exists ${sql.id(name)} with (force)`.execute(t.admin);
    },
  };
}
