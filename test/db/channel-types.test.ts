import { randomUUID } from "node:crypto";
import { CHANNEL_TYPES } from "@konstruct/channels";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The database checks a channel type's shape, not a list: the list is the channel modules',
// and a new module must not need a migration to store its connections.

let t: TestDatabase;
const tenantId = randomUUID();

beforeAll(async () => {
  t = await createTestDatabase("chtypes");
  await t.admin.insertInto("tenants").values({ id: tenantId, name: "acme", display_name: "Acme", namespace: "konstruct-acme" }).execute();
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
  it("stores every type of the channel list, and a new module's type without a migration", async () => {
    for (const type of [...CHANNEL_TYPES, "telegram"]) await expect(insert(type)).resolves.toBeDefined();
  });

  it("refuses a name that is not a subject token and key part", async () => {
    for (const type of ["", "Slack", "web chat", "slack.*", "x".repeat(33)]) {
      await expect(insert(type), type).rejects.toThrow(/channel_connections_channel_type_check/);
    }
  });
});
