import { randomUUID } from "node:crypto";
import { CHANNEL_TYPES } from "@konstruct/channels";
import { syncChannelTypes } from "@konstruct/migrations";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The database accepts exactly the channel types of the channel modules: the check constraint
// asks a function that the migrator rewrites from the channel list, so a new module needs no
// migration of its own.

let t: TestDatabase;
const tenantId = randomUUID();

beforeAll(async () => {
  t = await createTestDatabase("chtypes");
  await t.admin
    .insertInto("tenants")
    .values({ id: tenantId, name: "acme", display_name: "Acme", namespace: "konstruct-acme" })
    .execute();
});

afterAll(async () => {
  await t?.drop();
});

const insert = (type: string) =>
  t.admin
    .insertInto("channel_connections")
    .values({ tenant_id: tenantId, name: `c-${randomUUID().slice(0, 8)}`, channel_type: type, external_id: randomUUID() })
    .execute();

describe("channel_connections.channel_type", () => {
  it("stores every type of the channel list and refuses any other", async () => {
    for (const type of CHANNEL_TYPES) await expect(insert(type)).resolves.toBeDefined();
    for (const type of ["fax", "", "Slack", "slack.*"]) {
      await expect(insert(type), type).rejects.toThrow(/channel_connections_channel_type_check/);
    }
  });

  it("follows the channel list when a module is added, with no migration", async () => {
    await expect(insert("pigeon")).rejects.toThrow(/check constraint/);
    await syncChannelTypes(t.admin, [...CHANNEL_TYPES, "pigeon"]);
    await expect(insert("pigeon")).resolves.toBeDefined();
    await syncChannelTypes(t.admin);
    await expect(insert("pigeon")).rejects.toThrow(/check constraint/);
  });

  it("refuses a channel list entry that is not a safe token", async () => {
    await expect(syncChannelTypes(t.admin, ["slack", "x'); drop table tenants; --"])).rejects.toThrow(/not a lowercase token/);
  });
});
