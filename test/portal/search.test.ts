import { SEARCH_RECENT_WINDOW } from "@konstruct/portal";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../src/database.ts";
import {
  Browser,
  type PortalUnderTest,
  passwordHash,
  type SeededPortalTenant,
  seedPortalTenant,
  startPortal,
} from "./support.ts";

// Full-text search over more messages than its first, time-ordered try reads: a match older than
// that window is still found, pages by keyset stay in order, a tenant finds only its own, and the
// app role's search can use the GIN index under RLS (migration 0018).

let t: TestDatabase;
let portal: PortalUnderTest;
let a: SeededPortalTenant;
let b: SeededPortalTenant;
const COUNT = SEARCH_RECENT_WINDOW + 500;

async function seedMessages(tenant: SeededPortalTenant, rareAt: number[]): Promise<void> {
  await sql`
    insert into conversations (tenant_id, channel_type, connection_name, thread_key, subject, started_at, last_message_at, message_count)
    values (${tenant.id}, 'webchat', 'support-chat', 'search-thread', 'Search', now() - interval '1 day', now(), ${COUNT})`.execute(
    t.admin,
  );
  await sql`
    insert into conversation_messages (tenant_id, conversation_id, message_key, direction, text, created_at)
    select ${tenant.id}, c.id, 'm' || i, 'inbound',
           case when i = any(${rareAt}::int[]) then 'the zebra crossing ' || i else 'common words only ' || i end,
           now() - interval '1 day' + (i || ' seconds')::interval
    from conversations c, generate_series(1, ${COUNT}) as i
    where c.tenant_id = ${tenant.id}`.execute(t.admin);
}

beforeAll(async () => {
  t = await createTestDatabase("search");
  const hash = await passwordHash();
  a = await seedPortalTenant(t.admin, "acme", hash);
  b = await seedPortalTenant(t.admin, "globex", hash);
  // A's only matches are its oldest messages, far outside the newest SEARCH_RECENT_WINDOW; B has one too.
  await seedMessages(a, [1, 2]);
  await seedMessages(b, [COUNT]);
  await sql`analyze`.execute(t.admin);
  portal = await startPortal(t.app, { mode: "read-only", reason: "No Kubernetes API server in this test." });
}, 120_000);

afterAll(async () => {
  await portal?.close();
  await t?.drop();
});

type Item = { text: string; createdAt: string };

describe("full-text search", () => {
  it("finds a phrase only in messages older than the recent window, and only the tenant's own", async () => {
    const browser = new Browser(portal.app);
    expect((await browser.signIn(a.ownerEmail)).statusCode).toBe(201);
    const found = (await browser.api("GET", `/portal/api/conversations?q=${encodeURIComponent('"zebra crossing"')}`)).json();
    expect(found.messages.items.map((m: Item) => m.text)).toEqual(["the zebra crossing 2", "the zebra crossing 1"]);
    expect(found.messages.next).toBeNull();
  });

  it("pages through a common word newest first, without repeating or skipping", async () => {
    const browser = new Browser(portal.app);
    expect((await browser.signIn(a.ownerEmail)).statusCode).toBe(201);
    const first = (await browser.api("GET", "/portal/api/conversations?q=common")).json();
    const second = (await browser.api("GET", `/portal/api/conversations?q=common&cursor=${first.messages.next}`)).json();
    const texts = [...first.messages.items, ...second.messages.items].map((m: Item) => m.text);
    expect(texts).toEqual(Array.from({ length: 100 }, (_, i) => `common words only ${COUNT - i}`));
  });

  it("lets the app role's search use the full-text index under row-level security", async () => {
    const plan = await t.app.transaction().execute(async (trx) => {
      await sql`select set_config('app.current_tenant', ${a.id}, true)`.execute(trx);
      await sql`set local enable_seqscan = off`.execute(trx);
      const { rows } = await sql<{ "QUERY PLAN": string }>`
        explain select id from conversation_messages where search @@ websearch_to_tsquery('simple', 'zebra')`.execute(trx);
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    });
    expect(plan).toContain("conversation_messages_search");
  });
});
