import { randomBytes } from "node:crypto";
import { createDatabase, type Database } from "@konstruct/core";
import { migrateToLatest, NO_AGENT, setAppRolePassword, setOperatorRolePassword } from "@konstruct/migrations";
import { type Kysely, sql } from "kysely";
import pg from "pg";
import { serverUrl } from "./env.ts";

/**
 * The app role's password on the local servers. The role is server-wide, so every test
 * database and `npm start` (scripts/start.sh uses the same default) must agree on it, or each
 * would lock the other out.
 */
export const TEST_APP_PASSWORD = process.env.KONSTRUCT_APP_PASSWORD || "konstruct-app-dev";

/** The operator role's password on the local servers: server-wide too, shared with `npm start`. */
export const TEST_OPERATOR_PASSWORD = process.env.KONSTRUCT_OPERATOR_PASSWORD || "konstruct-operator-dev";

/** A freshly created and migrated database, private to one test file. */
export interface TestDatabase {
  name: string;
  /** Admin (superuser) URL of this database. */
  adminUrl: string;
  /** konstruct_app URL of this database. */
  appUrl: string;
  /** konstruct_operator URL of this database (what the operator connects as). */
  operatorUrl: string;
  admin: Kysely<Database>;
  app: Kysely<Database>;
  /** URL of this database for another login role. */
  urlFor(user: string, password: string): string;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string, user?: string, password?: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user !== undefined) u.username = encodeURIComponent(user);
  if (password !== undefined) u.password = encodeURIComponent(password);
  return u.toString();
}

/** Creates a uniquely named database on the local server and migrates it to the latest schema. */
export async function createTestDatabase(prefix = "kt"): Promise<TestDatabase> {
  const serverAdminUrl = serverUrl("DATABASE_ADMIN_URL");
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: serverAdminUrl });
  await client.connect();
  try {
    await client.query(`create database ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const adminUrl = withDatabase(serverAdminUrl, name);
  const appUrl = withDatabase(serverAdminUrl, name, "konstruct_app", TEST_APP_PASSWORD);
  const operatorUrl = withDatabase(serverAdminUrl, name, "konstruct_operator", TEST_OPERATOR_PASSWORD);
  const admin = createDatabase(adminUrl, { max: 4, applicationName: "konstruct-test-admin" });
  await migrateToLatest(admin);
  await setAppRolePassword(admin, appUrl);
  await setOperatorRolePassword(admin, operatorUrl);
  const app = createDatabase(appUrl, { max: 4, applicationName: "konstruct-test-app" });
  return {
    name,
    adminUrl,
    appUrl,
    operatorUrl,
    admin,
    app,
    urlFor: (user, password) => withDatabase(serverAdminUrl, name, user, password),
    async drop() {
      await app.destroy();
      await admin.destroy();
      const c = new pg.Client({ connectionString: serverAdminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Counts a tenant's history rows into `conversation_daily_counts` (per UTC day and agent), for
 * rows a test or benchmark wrote by hand: the product's writer, `konstruct_record_histories`,
 * counts as it writes (migration 0019), and nothing else does. Counts again from the rows, so
 * calling it twice changes nothing.
 */
export async function countHistoryByDay(db: Kysely<any>, tenantId: string): Promise<void> {
  await sql`
    insert into conversation_daily_counts as d (tenant_id, day, agent_id, agent_name, messages)
    select tenant_id, (created_at at time zone 'UTC')::date, coalesce(agent_id, ${NO_AGENT}::uuid), max(agent_name), count(*)
    from conversation_messages
    where tenant_id = ${tenantId}
    group by 1, 2, 3
    on conflict (tenant_id, day, agent_id) do update set messages = excluded.messages, agent_name = excluded.agent_name`.execute(
    db,
  );
}
