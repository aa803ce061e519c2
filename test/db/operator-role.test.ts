import { randomBytes, randomUUID } from "node:crypto";
import { createDatabase, type Database, scramVerifier } from "@konstruct/core";
import { createPostgresRoles } from "@konstruct/operator/runtime";
import { createTestDatabase, type TestDatabase } from "@konstruct/testkit";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The operator connects as konstruct_operator (migration 0010), not as the superuser. What it
// needs works through that role; what a superuser could do beyond that is refused.

let db: TestDatabase;
let operator: Kysely<Database>;

beforeAll(async () => {
  db = await createTestDatabase("oprole");
  operator = createDatabase(db.operatorUrl, { max: 2, applicationName: "operator-role-test" });
});

afterAll(async () => {
  await operator?.destroy();
  await db?.drop();
});

/** Runs one statement as konstruct_operator on a connection of its own, returning the error if any. */
async function asOperator(statement: string, params: unknown[] = []): Promise<Error | null> {
  const client = new pg.Client({ connectionString: db.operatorUrl });
  await client.connect();
  try {
    await client.query(statement, params);
    return null;
  } catch (error) {
    return error as Error;
  } finally {
    await client.end();
  }
}

const tenantRole = () => `konstruct_t_${randomBytes(16).toString("hex")}`;

describe("the konstruct_operator role", () => {
  it("is neither superuser nor CREATEROLE nor BYPASSRLS", async () => {
    const { rows } = await sql<{ rolsuper: boolean; rolcreaterole: boolean; rolbypassrls: boolean; rolcreatedb: boolean }>`
      select rolsuper, rolcreaterole, rolbypassrls, rolcreatedb from pg_roles where rolname = 'konstruct_operator'`.execute(
      operator,
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolbypassrls: false, rolcreatedb: false });
  });

  it("writes the rows it provisions through FORCE RLS, and tenant_owners", async () => {
    const { id, name } = await provisionAsOperator("op");
    await operator.insertInto("tenant_owners").values({ tenant_id: id, owner_uid: "uid-1", owner_name: name }).execute();
    expect(await operator.selectFrom("agents").select("name").where("tenant_id", "=", id).execute()).toEqual([{ name: "ada" }]);
    await operator.deleteFrom("tenants").where("id", "=", id).execute();
    expect(await db.admin.selectFrom("agents").select("name").where("tenant_id", "=", id).execute()).toEqual([]);
  });

  it("deleting a tenant takes everything that references it: usage, portal users and sessions, invitations, history", async () => {
    const { id, name, agentId } = await provisionAsOperator("cd");
    // Rows the services and the portal write, as the admin here.
    await sql`insert into token_usage (tenant_id, agent_id, day) values (${id}, ${agentId}, '2026-11-29')`.execute(db.admin);
    const user = await db.admin
      .insertInto("portal_users")
      .values({ tenant_id: id, email: `${name}@cascade.example`, password_hash: "$argon2id$test" })
      .returning("id")
      .executeTakeFirstOrThrow();
    await sql`insert into portal_sessions (tenant_id, user_id, token_hash, csrf_token, expires_at)
              values (${id}, ${user.id}, ${randomBytes(32)}, ${"c".repeat(32)}, now() + interval '1 hour')`.execute(db.admin);
    await sql`insert into portal_invitations (tenant_id, email, role, token_hash, expires_at)
              values (${id}, ${`new-${name}@cascade.example`}, 'member', ${randomBytes(32)}, now() + interval '1 day')`.execute(
      db.admin,
    );
    const conversation = await sql<{ id: string }>`
      insert into conversations (tenant_id, channel_type, thread_key, started_at, last_message_at, message_count)
      values (${id}, 'slack', 'T/1', now(), now(), 1) returning id`.execute(db.admin);
    await sql`insert into conversation_messages (tenant_id, conversation_id, message_key, direction, text, created_at)
              values (${id}, ${conversation.rows[0]?.id}, 'inbound:1', 'inbound', 'hi', now())`.execute(db.admin);

    await operator.deleteFrom("tenants").where("id", "=", id).execute();
    for (const table of [
      "agents",
      "token_usage",
      "portal_users",
      "portal_sessions",
      "portal_invitations",
      "conversations",
      "conversation_messages",
    ]) {
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from ${sql.table(table)} where tenant_id = ${id}`.execute(db.admin);
      expect(rows[0]?.n, table).toBe(0);
    }
  });

  it("creates, repairs, reads and drops tenant login roles through the functions, verifier included", async () => {
    const roles = createPostgresRoles(operator);
    const tenantId = randomUUID();
    await db.admin
      .insertInto("tenants")
      .values({
        id: tenantId,
        name: `r-${tenantId.slice(0, 6)}`,
        display_name: "r",
        namespace: "konstruct-r",
        updated_at: new Date(),
      })
      .execute();
    const role = tenantRole();
    const limits = { connectionLimit: 5, settings: { statement_timeout: "30s", idle_in_transaction_session_timeout: "60s" } };
    const verifier = await scramVerifier("a-tenant-password");
    await roles.create(role, verifier, tenantId, limits);
    expect(await roles.get(role)).toEqual({
      canLogin: true,
      inTenantGroup: true,
      mappedTenantId: tenantId,
      verifier,
      limits,
    });
    // A tenant that set its own defaults is put back.
    await sql.raw(`alter role ${role} set statement_timeout = 0`).execute(db.admin);
    await roles.update(role, tenantId, null, limits);
    expect((await roles.get(role))?.limits).toEqual(limits);
    await roles.drop(role);
    expect(await roles.get(role)).toBeNull();
  });

  it("cannot read pg_authid, create or alter roles, or reach the tables it does not provision", async () => {
    for (const statement of [
      "select rolpassword from pg_authid",
      "create role mallory superuser",
      "create role mallory login",
      "alter role konstruct_app password 'taken-over'",
      "alter role konstruct_operator superuser",
      "grant konstruct_owner to konstruct_operator",
      "alter table tenants disable row level security",
      "select * from tenant_roles",
      "select * from channel_routes",
      "drop table tenant_owners",
    ]) {
      expect(await asOperator(statement), statement).toMatchObject({
        message: expect.stringMatching(/permission denied|must be|must have/),
      });
    }
  });

  it("cannot use the functions on any role but a tenant login role, nor set other settings", async () => {
    const verifier = await scramVerifier("some-password-1");
    const tenantId = randomUUID();
    for (const [statement, params] of [
      ["select konstruct_tenant_role_ensure($1, $2, $3, 5, '{}')", ["konstruct_app", verifier, tenantId]],
      ["select konstruct_tenant_role_ensure($1, $2, $3, 5, '{}')", ["postgres", verifier, tenantId]],
      ["select konstruct_tenant_role_drop($1)", ["konstruct_operator"]],
      ["select * from konstruct_tenant_role_state($1)", ["postgres"]],
      ["select konstruct_tenant_role_ensure($1, $2, $3, 5, $4)", [tenantRole(), verifier, tenantId, '{"search_path":"evil"}']],
      ["select konstruct_tenant_role_ensure($1, $2, $3, 5, '{}')", [tenantRole(), "md5deadbeef' superuser --", tenantId]],
    ] as const) {
      expect(await asOperator(statement, [...params]), `${statement} ${params[0]}`).toBeInstanceOf(Error);
    }
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from pg_roles where rolsuper and rolname not in ('postgres')`.execute(db.admin);
    expect(rows[0]?.n).toBe(0);
  });
});

/** A tenant and its default agent, written as the operator provisions them (through FORCE RLS). */
async function provisionAsOperator(prefix: string): Promise<{ id: string; name: string; agentId: string }> {
  const id = randomUUID();
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await operator
    .insertInto("tenants")
    .values({ id, name, display_name: name, namespace: `konstruct-${name}`, updated_at: new Date() })
    .execute();
  const agent = await operator
    .insertInto("agents")
    .values({
      tenant_id: id,
      name: "ada",
      display_name: "Ada",
      role: "",
      system_prompt: "",
      model: "llama3.2",
      fallback_models: [],
      temperature: 0.2,
      max_history_messages: 20,
      is_default: true,
      channels: [],
      updated_at: new Date(),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { id, name, agentId: agent.id };
}
