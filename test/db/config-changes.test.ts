import { randomUUID } from "node:crypto";
import { createLogger, watchConfigChanges, withTenant } from "@konstruct/core";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Caches of tenant configuration are dropped when the rows change, whoever changes them.

let t: TestDatabase;
const log = createLogger({ name: "test", level: "silent" });

beforeAll(async () => {
  t = await createTestDatabase("cfg");
});
afterAll(async () => {
  await t?.drop();
});

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("watchConfigChanges", () => {
  it("reports each committed change to tenants, agents and connections with its tenant, and nothing rolled back", async () => {
    const seen: (string | undefined)[] = [];
    const watch = watchConfigChanges(t.appUrl, (tenantId) => seen.push(tenantId), log);
    try {
      const id = randomUUID();
      await until(() => true);
      await new Promise((resolve) => setTimeout(resolve, 300)); // LISTEN is in place
      await t.admin
        .insertInto("tenants")
        .values({ id, name: `t${id.slice(0, 8)}`, display_name: "T", namespace: "ns" })
        .execute();
      await withTenant(t.app, id, (trx) =>
        trx.insertInto("agents").values({ tenant_id: id, name: "a", display_name: "A", model: "m" }).execute(),
      );
      await withTenant(t.app, id, (trx) =>
        trx
          .insertInto("channel_connections")
          .values({ tenant_id: id, name: "c", channel_type: "webchat", external_id: `w-${id}` })
          .execute(),
      );
      await until(() => seen.length >= 3);
      expect(seen).toEqual([id, id, id]);
      await t.admin
        .transaction()
        .execute(async (trx) => {
          await trx.updateTable("agents").set({ display_name: "B" }).where("tenant_id", "=", id).execute();
          throw new Error("roll back");
        })
        .catch(() => {});
      await withTenant(t.app, id, (trx) => trx.deleteFrom("agents").where("tenant_id", "=", id).execute());
      await until(() => seen.length >= 4);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toEqual([id, id, id, id]);
    } finally {
      await watch.close();
    }
  });

  it("reconnects after losing its connection and then drops everything, since it may have missed changes", async () => {
    const seen: (string | undefined)[] = [];
    const watch = watchConfigChanges(t.appUrl, (tenantId) => seen.push(tenantId), log);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'konstruct-config-listener' and datname = current_database()`.execute(
        t.admin,
      );
      await until(() => seen.includes(undefined));
      const id = randomUUID();
      await t.admin
        .insertInto("tenants")
        .values({ id, name: `r${id.slice(0, 8)}`, display_name: "R", namespace: "ns" })
        .execute();
      await until(() => seen.includes(id));
    } finally {
      await watch.close();
    }
  });
});
