import { AGENT_DEFAULTS, HISTORY_RETENTION_DAYS, TENANT_LIMIT_DEFAULTS } from "@konstruct/operator";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let t: TestDatabase;

class RolledBack extends Error {}

beforeAll(async () => {
  t = await createTestDatabase("defaults");
});
afterAll(async () => {
  await t?.drop();
});

/** The value of a column's default, read from pg_catalog and evaluated by PostgreSQL itself. */
async function columnDefault(table: string, column: string): Promise<unknown> {
  const { rows } = await sql<{ expression: string | null }>`
    select pg_get_expr(d.adbin, d.adrelid) as expression
    from pg_attribute a
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = ${`public.${table}`}::regclass and a.attname = ${column} and not a.attisdropped`.execute(t.admin);
  const expression = rows[0]?.expression;
  if (expression === undefined) throw new Error(`no column ${table}.${column}`);
  if (expression === null) return undefined;
  // The expression comes from the catalog of a database this test created, not from input.
  const evaluated = await sql<{ value: unknown }>`select ${sql.raw(expression)} as value`.execute(t.admin);
  return evaluated.rows[0]?.value;
}

// The migrations take Kysely<any> and are frozen in time, so they cannot import the operator's
// defaults; the operator writes every limit and setting explicitly anyway. The column defaults
// still serve rows written by hand (psql, fixtures), so they must say the same thing: when a
// default in operator/src/api/defaults.ts changes, this fails until a new migration alters the
// column default to match.
describe("column defaults in the migrated schema", () => {
  it("equal TENANT_LIMIT_DEFAULTS", async () => {
    expect({
      messagesPerMinute: await columnDefault("tenants", "messages_per_minute"),
      maxConcurrentRuns: await columnDefault("tenants", "max_concurrent_runs"),
      tokensPerDay: await columnDefault("tenants", "tokens_per_day"),
    }).toEqual(TENANT_LIMIT_DEFAULTS);
  });

  it("equal HISTORY_RETENTION_DAYS, whose bounds the column's check enforces", async () => {
    expect(await columnDefault("tenants", "history_retention_days")).toBe(HISTORY_RETENTION_DAYS.default);
    // The check constraint, tried at its edges (in a transaction rolled back each time).
    const accepts = async (days: number) => {
      try {
        await t.admin.transaction().execute(async (trx) => {
          await sql`insert into tenants (id, name, display_name, namespace, history_retention_days, updated_at)
                    values (gen_random_uuid(), 'edge', 'Edge', 'konstruct-edge', ${days}, now())`.execute(trx);
          throw new RolledBack();
        });
      } catch (error) {
        if (error instanceof RolledBack) return true;
        if (/history_retention_days/.test(String(error))) return false;
        throw error;
      }
      return true;
    };
    const { minimum, maximum } = HISTORY_RETENTION_DAYS;
    expect(await Promise.all([minimum - 1, minimum, maximum, maximum + 1].map(accepts))).toEqual([false, true, true, false]);
  });

  it("equal AGENT_DEFAULTS", async () => {
    const temperature = await columnDefault("agents", "temperature");
    expect({
      // A `real` column: compare at single precision, the precision the column keeps.
      temperature: Math.fround(Number(temperature)),
      maxHistoryMessages: await columnDefault("agents", "max_history_messages"),
      default: await columnDefault("agents", "is_default"),
    }).toEqual({ ...AGENT_DEFAULTS, temperature: Math.fround(AGENT_DEFAULTS.temperature) });
  });
});
