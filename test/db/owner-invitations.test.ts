import { randomUUID } from "node:crypto";
import { createDatabase, type Database, newPortalToken, portalTokenDigest } from "@konstruct/core";
import { createOwnerInvitations } from "@konstruct/operator/runtime";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The operator's portal_invitations adapter against a real PostgreSQL, as konstruct_operator:
// who counts as joined, whose email another tenant holds, and which invitations are live.

let t: TestDatabase;
let operator: Kysely<Database>;

beforeAll(async () => {
  t = await createTestDatabase("owninv");
  operator = createDatabase(t.operatorUrl, { max: 2, applicationName: "owner-invitations-test" });
});

afterAll(async () => {
  await operator?.destroy();
  await t?.drop();
});

async function tenantWith(emails: string[]): Promise<string> {
  const id = randomUUID();
  const name = `i-${id.slice(0, 8)}`;
  await t.admin
    .insertInto("tenants")
    .values({ id, name, display_name: name, namespace: `konstruct-${name}`, updated_at: new Date() })
    .execute();
  for (const email of emails) {
    await t.admin.insertInto("portal_users").values({ tenant_id: id, email, password_hash: "$argon2id$test" }).execute();
  }
  return id;
}

describe("the owner invitations adapter", () => {
  it("counts every user of the tenant as joined, and only the asked-about emails of other tenants as elsewhere", async () => {
    const suffix = randomUUID().slice(0, 8);
    const mine = await tenantWith([`Owner-${suffix}@a.example`, `member-${suffix}@a.example`]);
    await tenantWith([`taken-${suffix}@b.example`, `other-${suffix}@b.example`]);
    const invitations = createOwnerInvitations(operator);

    const state = await invitations.state(mine, [
      `owner-${suffix}@a.example`,
      `TAKEN-${suffix}@b.example`,
      `new-${suffix}@a.example`,
    ]);
    expect([...state.joined].sort()).toEqual([`member-${suffix}@a.example`, `owner-${suffix}@a.example`]);
    expect([...state.elsewhere]).toEqual([`taken-${suffix}@b.example`]);
    expect(state.live).toEqual([]);

    // Asked about nobody, the tenant's own users still count as joined.
    expect([...(await invitations.state(mine, [])).joined].sort()).toEqual([
      `member-${suffix}@a.example`,
      `owner-${suffix}@a.example`,
    ]);
  });

  it("lists an issued invitation as live until it is revoked", async () => {
    const tenantId = await tenantWith([]);
    const invitations = createOwnerInvitations(operator);
    const digest = portalTokenDigest(newPortalToken());
    const id = await invitations.issue(tenantId, "first@c.example", digest, 7);
    const live = (await invitations.state(tenantId, ["first@c.example"])).live;
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ id, email: "first@c.example" });
    expect(live[0]?.tokenHash.equals(digest)).toBe(true);
    await invitations.revoke(tenantId, [id]);
    expect((await invitations.state(tenantId, ["first@c.example"])).live).toEqual([]);
  });
});
