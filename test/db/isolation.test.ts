import { randomBytes, randomUUID } from "node:crypto";
import {
  createDatabase,
  type Database,
  hashPassword,
  routeByConnectionId,
  routeByExternalId,
  TENANT_SCOPED_TABLES,
  TenantIdError,
  withTenant,
} from "@konstruct/core";
import { countHistoryByDay, createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The core promise: no tenant can see another's rows. These tests run as the real
// konstruct_app role and as a real per-tenant login role against a real PostgreSQL.

let t: TestDatabase;
const A = randomUUID();
const B = randomUUID();
const agentOf: Record<string, string> = {};
let tenantRole: { name: string; password: string; db: Kysely<Database> };

async function seedTenant(db: Kysely<Database>, id: string, name: string): Promise<void> {
  await db
    .insertInto("tenants")
    .values({ id, name, display_name: name, namespace: `konstruct-${name}` })
    .execute();
  const agent = await db
    .insertInto("agents")
    .values({ tenant_id: id, name: "ava", display_name: `Ava of ${name}`, model: "llama3.2", is_default: true })
    .returning("id")
    .executeTakeFirstOrThrow();
  agentOf[id] = agent.id;
  const connection = await db
    .insertInto("channel_connections")
    .values({ tenant_id: id, name: "slack", channel_type: "slack", external_id: `T-${name}`, credentials: "v1.x.y.z" })
    .returning("id")
    .executeTakeFirstOrThrow();
  await db
    .insertInto("channel_activity")
    .values({
      connection_id: connection.id,
      tenant_id: id,
      last_event_at: new Date(),
      last_error: `slack: invalid_auth (${name})`,
    })
    .execute();
  await db
    .insertInto("portal_users")
    .values({
      tenant_id: id,
      email: `owner@${name}.example`,
      password_hash: await hashPassword("correct horse battery"),
      role: "owner",
    })
    .execute();
  await db
    .insertInto("token_usage")
    .values({ tenant_id: id, agent_id: agent.id, day: "2026-11-28", prompt_tokens: 10, completion_tokens: 5, runs: 1 })
    .execute();
  const owner = await db.selectFrom("portal_users").select("id").where("tenant_id", "=", id).executeTakeFirstOrThrow();
  await db
    .insertInto("portal_invitations")
    .values({
      tenant_id: id,
      email: `admin@${name}.example`,
      role: "admin",
      token_hash: randomBytes(32),
      invited_by: owner.id,
      expires_at: new Date(Date.now() + 86_400_000),
    })
    .execute();
  await db
    .insertInto("portal_sessions")
    .values({
      tenant_id: id,
      user_id: owner.id,
      token_hash: randomBytes(32),
      csrf_token: randomBytes(32).toString("base64url"),
      expires_at: new Date(Date.now() + 86_400_000),
    })
    .execute();
  const conversation = await db
    .insertInto("conversations")
    .values({
      tenant_id: id,
      channel_type: "slack",
      connection_name: "slack",
      thread_key: `T-${name}/C1/1700000000.000100`,
      started_at: new Date(),
      last_message_at: new Date(),
      message_count: 1,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await db
    .insertInto("conversation_messages")
    .values({
      tenant_id: id,
      conversation_id: conversation.id,
      message_key: `in:${randomUUID()}`,
      direction: "inbound",
      sender_id: "U1",
      text: `hello from ${name}`,
      created_at: new Date(),
    })
    .execute();
  // Written by hand, so counted by hand (the product's writer counts as it writes).
  await countHistoryByDay(db, id);
}

beforeAll(async () => {
  t = await createTestDatabase("iso");
  await seedTenant(t.admin, A, "acme");
  await seedTenant(t.admin, B, "globex");
  // A per-tenant login role as the operator creates it: a member of konstruct_tenant, mapped to A.
  const name = `konstruct_t_${A.replaceAll("-", "")}_${t.name}`.slice(0, 63);
  const password = randomUUID();
  await sql.raw(`create role ${name} login password '${password}' in role konstruct_tenant`).execute(t.admin);
  await t.admin.insertInto("tenant_roles").values({ role_name: name, tenant_id: A }).execute();
  tenantRole = { name, password, db: createDatabase(t.urlFor(name, password), { max: 2 }) };
});

afterAll(async () => {
  await tenantRole?.db.destroy();
  await t?.drop();
  if (tenantRole) {
    const c = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL });
    await c.connect();
    await c.query(`drop role if exists ${c.escapeIdentifier(tenantRole.name)}`);
    await c.end();
  }
});

describe("the app role, scoped with withTenant", () => {
  it("sees only the current tenant's rows in every tenant-scoped table", async () => {
    for (const table of TENANT_SCOPED_TABLES) {
      const column = table === "tenants" ? "id" : "tenant_id";
      const rows = await withTenant(t.app, A, (trx) =>
        trx
          .selectFrom(table)
          .select(sql<string>`${sql.ref(column)}::text`.as("tenant"))
          .execute(),
      );
      expect(rows.length, table).toBeGreaterThan(0);
      expect(new Set(rows.map((r) => r.tenant)), table).toEqual(new Set([A]));
    }
  });

  it("cannot update or delete another tenant's rows", async () => {
    const updated = await withTenant(t.app, A, (trx) =>
      trx
        .updateTable("agents")
        .set({ display_name: "hijacked" })
        .where("id", "=", agentOf[B] as string)
        .executeTakeFirst(),
    );
    expect(updated.numUpdatedRows).toBe(0n);
    const deleted = await withTenant(t.app, A, (trx) =>
      trx.deleteFrom("portal_users").where("tenant_id", "=", B).executeTakeFirst(),
    );
    expect(deleted.numDeletedRows).toBe(0n);
    const still = await t.admin
      .selectFrom("agents")
      .select("display_name")
      .where("id", "=", agentOf[B] as string)
      .executeTakeFirstOrThrow();
    expect(still.display_name).toBe("Ava of globex");
    expect(await t.admin.selectFrom("portal_users").where("tenant_id", "=", B).select("id").execute()).toHaveLength(1);
  });

  it("cannot insert rows for another tenant, nor move its own rows to one", async () => {
    await expect(
      withTenant(t.app, A, (trx) =>
        trx.insertInto("agents").values({ tenant_id: B, name: "mole", display_name: "Mole", model: "m" }).execute(),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      withTenant(t.app, A, (trx) =>
        trx
          .updateTable("agents")
          .set({ tenant_id: B })
          .where("id", "=", agentOf[A] as string)
          .execute(),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it("sees zero rows with no tenant set, even on a connection that used the setting before", async () => {
    const conn = new pg.Client({ connectionString: t.appUrl });
    await conn.connect();
    try {
      await conn.query("begin");
      await conn.query("select set_config('app.current_tenant', $1, true)", [A]);
      expect((await conn.query("select count(*)::int as n from agents")).rows[0].n).toBe(1);
      await conn.query("commit");
      // After the transaction the setting reads as '' rather than NULL: still no rows.
      for (const table of TENANT_SCOPED_TABLES) {
        const { rows } = await conn.query(`select count(*)::int as n from ${table}`);
        expect(rows[0].n, table).toBe(0);
      }
    } finally {
      await conn.end();
    }
  });

  it("rejects a malformed or injected tenant id before any SQL runs", async () => {
    const untouchable = new Proxy({} as Kysely<Database>, {
      get() {
        throw new Error("SQL was attempted");
      },
    });
    for (const bad of [`${A}'; drop table tenants; --`, "", "not-a-uuid", A.toUpperCase(), `${A} `]) {
      await expect(withTenant(untouchable, bad, async () => 1)).rejects.toThrow(TenantIdError);
    }
  });

  it("resolves channel routes without reading the routing tables or credentials", async () => {
    const route = await routeByExternalId(t.app, "slack", "T-globex");
    expect(route?.tenantId).toBe(B);
    expect(await routeByConnectionId(t.app, route?.connectionId as string)).toEqual(route);
    expect(await routeByExternalId(t.app, "slack", "T-nobody")).toBeNull();
    await expect(sql`select * from channel_routes`.execute(t.app)).rejects.toThrow(/permission denied/);
    await expect(sql`select * from tenant_roles`.execute(t.app)).rejects.toThrow(/permission denied/);
  });
});

describe("konstruct_record_tokens, the orchestrator's one-statement token count", () => {
  const DAY = "2026-01-02";
  const record = (db: Kysely<Database>, tenant: string, prompt: number, completion: number) =>
    sql`select konstruct_record_tokens(${tenant}, ${agentOf[tenant]}, ${DAY}, ${prompt}, ${completion})`.execute(db);
  const usage = (tenant: string) =>
    t.admin
      .selectFrom("token_usage")
      .select(["prompt_tokens", "completion_tokens", "runs"])
      .where("tenant_id", "=", tenant)
      .where("day", "=", DAY as never)
      .execute();

  it("adds each run to the tenant passed, and to no other tenant's row", async () => {
    await record(t.app, A, 20, 8);
    await record(t.app, A, 10, 4);
    expect(await usage(A)).toEqual([{ prompt_tokens: 30, completion_tokens: 12, runs: 2 }]);
    expect(await usage(B)).toEqual([]);
  });

  it("leaves no tenant behind, in a surrounding transaction or on the pooled connection", async () => {
    const seen = await withTenant(t.app, B, async (trx) => {
      await record(trx, A, 1, 1);
      return trx.selectFrom("agents").select("tenant_id").execute();
    });
    expect(seen.map((r) => r.tenant_id)).toEqual([B]);
    expect(await usage(B)).toEqual([]);

    const conn = new pg.Client({ connectionString: t.appUrl });
    await conn.connect();
    try {
      await conn.query("select konstruct_record_tokens($1, $2, $3, $4, $5)", [A, agentOf[A], DAY, 1, 1]);
      for (const table of TENANT_SCOPED_TABLES) {
        const { rows } = await conn.query(`select count(*)::int as n from ${table}`);
        expect(rows[0].n, table).toBe(0);
      }
    } finally {
      await conn.end();
    }
  });

  it("only the app role may call it", async () => {
    await expect(record(tenantRole.db, A, 1, 1)).rejects.toThrow(/permission denied/);
  });
});

describe("the portal's lookups before the tenant is known", () => {
  it("find a person by email (any case), and only the app role may ask", async () => {
    const { rows } = await sql<{ tenant_id: string; role: string }>`
      select tenant_id, role from konstruct_portal_user_by_email(${"OWNER@Globex.example"})`.execute(t.app);
    expect(rows).toEqual([{ tenant_id: B, role: "owner" }]);
    expect((await sql`select * from konstruct_portal_user_by_email(${"nobody@x.example"})`.execute(t.app)).rows).toEqual([]);
    await expect(
      sql`select * from konstruct_portal_user_by_email(${"owner@acme.example"})`.execute(tenantRole.db),
    ).rejects.toThrow(/permission denied/);
  });

  it("find a session or an invitation by its token digest only", async () => {
    const session = await t.admin
      .selectFrom("portal_sessions")
      .select(["token_hash", "id"])
      .where("tenant_id", "=", A)
      .executeTakeFirstOrThrow();
    const { rows } = await sql<{ session_id: string; tenant_id: string }>`
      select session_id, tenant_id from konstruct_portal_session(${session.token_hash})`.execute(t.app);
    expect(rows).toEqual([{ session_id: session.id, tenant_id: A }]);
    const invitation = await t.admin
      .selectFrom("portal_invitations")
      .select("token_hash")
      .where("tenant_id", "=", B)
      .executeTakeFirstOrThrow();
    const found = await sql<{
      tenant_id: string;
    }>`select tenant_id from konstruct_portal_invitation(${invitation.token_hash})`.execute(t.app);
    expect(found.rows).toEqual([{ tenant_id: B }]);
    expect((await sql`select * from konstruct_portal_session(${randomBytes(32)})`.execute(t.app)).rows).toEqual([]);
  });
});

describe("a per-tenant login role", () => {
  it("reads only its own tenant's rows", async () => {
    for (const table of TENANT_SCOPED_TABLES) {
      const column = table === "tenants" ? "id" : "tenant_id";
      const rows = await tenantRole.db
        .selectFrom(table)
        .select(sql<string>`${sql.ref(column)}::text`.as("tenant"))
        .execute();
      expect(new Set(rows.map((r) => r.tenant)), table).toEqual(new Set([A]));
    }
  });

  it("cannot switch tenants by setting app.current_tenant", async () => {
    const rows = await tenantRole.db.transaction().execute(async (trx) => {
      await sql`select set_config('app.current_tenant', ${B}, true)`.execute(trx);
      return trx.selectFrom("agents").select("tenant_id").execute();
    });
    expect(rows.map((r) => r.tenant_id)).toEqual([A]);
    await expect(
      tenantRole.db.transaction().execute(async (trx) => {
        await sql`select set_config('app.current_tenant', ${B}, true)`.execute(trx);
        await trx.insertInto("agents").values({ tenant_id: B, name: "mole", display_name: "Mole", model: "m" }).execute();
      }),
    ).rejects.toThrow(/permission denied|row-level security/);
  });

  it("reads its people's sessions and invitations but never their token digests, and writes no history", async () => {
    expect(await tenantRole.db.selectFrom("portal_sessions").select(["user_id", "expires_at"]).execute()).toHaveLength(1);
    await expect(sql`select token_hash from portal_sessions`.execute(tenantRole.db)).rejects.toThrow(/permission denied/);
    await expect(sql`select token_hash from portal_invitations`.execute(tenantRole.db)).rejects.toThrow(/permission denied/);
    await expect(sql`select csrf_token from portal_sessions`.execute(tenantRole.db)).rejects.toThrow(/permission denied/);
    await expect(sql`delete from conversation_messages`.execute(tenantRole.db)).rejects.toThrow(/permission denied/);
    await expect(sql`update conversations set subject = 'x'`.execute(tenantRole.db)).rejects.toThrow(/permission denied/);
  });

  it("cannot read the role map or rewrite its own mapping", async () => {
    await expect(sql`update tenant_roles set tenant_id = ${B}`.execute(tenantRole.db)).rejects.toThrow(/permission denied/);
  });
});

class RolledBack extends Error {
  readonly value: unknown;
  constructor(value: unknown) {
    super("rolled back");
    this.value = value;
  }
}

/** Runs `fn` as the admin in a transaction that is always rolled back, returning its result. */
async function inRolledBack<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  try {
    await t.admin.transaction().execute(async (trx) => {
      throw new RolledBack(await fn(trx));
    });
  } catch (error) {
    if (error instanceof RolledBack) return error.value as T;
    throw error;
  }
  throw new Error("unreachable");
}

/** Policies that let the owning role read a table (migration 0008's lookups before the tenant is known). */
const OWNER_POLICIES: Partial<Record<(typeof TENANT_SCOPED_TABLES)[number], string>> = {
  portal_users: "owner_portal_lookup",
  portal_invitations: "owner_portal_lookup",
  portal_sessions: "owner_portal_lookup",
};

/**
 * What is wrong with row-level security on the tenant-scoped tables, read from the catalog and
 * by behaviour: FORCE and ENABLE on; the app policy (for konstruct_app, on app.current_tenant)
 * and the tenant-role policy (for konstruct_tenant, on konstruct_session_tenant()) present, no
 * other policy but the operator's (for konstruct_operator only); and, as the owning role konstruct_owner, no row visible (FORCE binds the owner).
 */
async function rlsProblems(db: Kysely<Database>): Promise<string[]> {
  const problems: string[] = [];
  for (const table of TENANT_SCOPED_TABLES) {
    const { rows } = await sql<{ enabled: boolean; forced: boolean }>`
      select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class
      where oid = ${`public.${table}`}::regclass`.execute(db);
    if (!rows[0]?.enabled) problems.push(`${table}: row-level security not enabled`);
    if (!rows[0]?.forced) problems.push(`${table}: row-level security not forced`);
    const policies = await sql<{ policyname: string; roles: string[]; qual: string }>`
      select policyname, roles::text[] as roles, qual from pg_policies
      where schemaname = 'public' and tablename = ${table}`.execute(db);
    const app = policies.rows.find((p) => p.policyname === "app_tenant_isolation");
    const tenant = policies.rows.find((p) => p.policyname === "tenant_role_isolation");
    if (app?.roles.join() !== "konstruct_app" || !app.qual.includes("app.current_tenant"))
      problems.push(`${table}: app_tenant_isolation missing or changed`);
    if (tenant?.roles.join() !== "konstruct_tenant" || !tenant.qual.includes("konstruct_session_tenant()"))
      problems.push(`${table}: tenant_role_isolation missing or changed`);
    const allowed = ["app_tenant_isolation", "tenant_role_isolation", ...(OWNER_POLICIES[table] ? [OWNER_POLICIES[table]] : [])];
    for (const p of policies.rows) {
      // The operator's own policy (migrations 0010, 0013) binds its role and no other.
      if (p.policyname === "operator_all" && p.roles.join() === "konstruct_operator") continue;
      if (!allowed.includes(p.policyname)) problems.push(`${table}: unexpected policy ${p.policyname}`);
    }
    // The portal's security-definer lookups run as the owner and read across tenants by design.
    if (OWNER_POLICIES[table]) continue;
    // Behaviour: the owner sees nothing (FORCE binds it, and no policy is for it).
    const asOwner = async (trx: Kysely<Database>) => {
      await sql`set local role konstruct_owner`.execute(trx);
      const n = (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(trx)).rows[0]?.n;
      await sql`reset role`.execute(trx);
      return n;
    };
    const seen = db.isTransaction ? await asOwner(db) : await db.transaction().execute(asOwner);
    if (seen !== 0) problems.push(`${table}: its owner sees ${seen} rows`);
  }
  return problems;
}

describe("roles and ownership", () => {
  it("the app role is not superuser, cannot bypass RLS and owns nothing", async () => {
    const { rows } = await sql<{ rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean }>`
      select rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = 'konstruct_app'`.execute(t.admin);
    expect(rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcreaterole: false }]);
    const owned = await sql<{ n: number }>`
      select count(*)::int as n from pg_class c join pg_roles r on r.oid = c.relowner
      where r.rolname = 'konstruct_app'`.execute(t.admin);
    expect(owned.rows[0]?.n).toBe(0);
  });

  it("every tenant-scoped table has ENABLE and FORCE row-level security", async () => {
    const { rows } = await sql<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>`
      select relname, relrowsecurity, relforcerowsecurity from pg_class
      where relname in (${sql.join([...TENANT_SCOPED_TABLES])}) and relkind = 'r'`.execute(t.admin);
    expect(rows).toHaveLength(TENANT_SCOPED_TABLES.length);
    for (const row of rows) expect(row, row.relname).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
  });

  it("every tenant-scoped table answers the RLS guards: FORCE on, both policies there and binding", async () => {
    expect(await rlsProblems(t.admin)).toEqual([]);
  });

  // The guards above go red when the history tables lose FORCE or a policy: each change is made
  // in a transaction that is rolled back, and the guards must name it.
  for (const table of ["conversations", "conversation_messages"] as const) {
    for (const change of [
      "no force row level security",
      "drop policy app_tenant_isolation",
      "drop policy tenant_role_isolation",
    ]) {
      it(`goes red when ${table} has "${change}"`, async () => {
        const found = await inRolledBack(async (trx) => {
          const ddl = change.startsWith("drop")
            ? sql`${sql.raw(change)} on ${sql.table(table)}`
            : sql`alter table ${sql.table(table)} ${sql.raw(change)}`;
          await ddl.execute(trx);
          return rlsProblems(trx);
        });
        expect(found.filter((p) => p.startsWith(`${table}:`)).length, found.join("\n")).toBeGreaterThan(0);
        expect(
          found.every((p) => p.startsWith(`${table}:`)),
          found.join("\n"),
        ).toBe(true);
      });
    }
  }

  it("RLS binds the table owner too: konstruct_owner sees no tenant rows", async () => {
    const count = await t.admin.connection().execute(async (conn) => {
      await sql`set role konstruct_owner`.execute(conn);
      try {
        return (await sql<{ n: number }>`select count(*)::int as n from agents`.execute(conn)).rows[0]?.n;
      } finally {
        await sql`reset role`.execute(conn);
      }
    });
    expect(count).toBe(0);
    expect((await t.admin.selectFrom("agents").select("id").execute()).length).toBe(2);
  });

  it("keeps one default agent per tenant and one connection per channel id across tenants", async () => {
    await expect(
      withTenant(t.app, A, (trx) =>
        trx
          .insertInto("agents")
          .values({ tenant_id: A, name: "bob", display_name: "Bob", model: "m", is_default: true })
          .execute(),
      ),
    ).rejects.toThrow(/agents_one_default_per_tenant/);
    await expect(
      withTenant(t.app, A, (trx) =>
        trx
          .insertInto("channel_connections")
          .values({ tenant_id: A, name: "other", channel_type: "slack", external_id: "T-globex" })
          .execute(),
      ),
    ).rejects.toThrow(/duplicate key/);
    await expect(
      withTenant(t.app, A, (trx) =>
        trx
          .insertInto("channel_connections")
          .values({ tenant_id: A, name: "fax", channel_type: "fax" as never, external_id: "F1" })
          .execute(),
      ),
    ).rejects.toThrow(/check constraint/);
  });
});
