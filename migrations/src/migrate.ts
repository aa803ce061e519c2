import { KonstructError, scramVerifier } from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { type MigrationResultSet, Migrator } from "kysely/migration";
import { syncChannelTypes } from "./channel-types.ts";
import { migrations } from "./migrations/index.ts";

/** Applies every pending migration. Safe to run again and concurrently: kysely serializes
 * migrators with an advisory lock, and the second finds nothing left to do. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
    throw new KonstructError("INTERNAL", `migration ${failed} failed; fix the cause and run \`npm run migrate\` again`, {
      cause: result.error,
    });
  }
  await syncChannelTypes(db);
  return result;
}

/**
 * Gives `konstruct_app` the login password of DATABASE_URL, so the URL the services use is the
 * only place the password is configured.
 */
export async function setAppRolePassword(db: Kysely<any>, databaseUrl: string): Promise<void> {
  await setLoginPassword(db, databaseUrl, "konstruct_app", "DATABASE_URL");
}

/** Gives `konstruct_operator` the login password of DATABASE_OPERATOR_URL (the operator's URL). */
export async function setOperatorRolePassword(db: Kysely<any>, operatorUrl: string): Promise<void> {
  await setLoginPassword(db, operatorUrl, "konstruct_operator", "DATABASE_OPERATOR_URL");
}

/**
 * `ALTER ROLE … LOGIN PASSWORD` from a URL naming that role. The statement takes no bind
 * parameters, so what it is given is a literal: the SCRAM-SHA-256 verifier of the password.
 */
async function setLoginPassword(
  db: Kysely<any>,
  databaseUrl: string,
  role: "konstruct_app" | "konstruct_operator",
  variable: string,
): Promise<void> {
  const url = new URL(databaseUrl);
  const user = decodeURIComponent(url.username);
  if (user !== role) {
    throw new KonstructError("CONFIG_INVALID", `${variable} must connect as ${role}, not ${JSON.stringify(user)}`);
  }
  const password = decodeURIComponent(url.password);
  if (password.length < 8) throw new KonstructError("CONFIG_INVALID", `${variable}'s password must be at least 8 characters`);
  // PostgreSQL gets the SCRAM verifier, never the password: the statement can then appear in
  // its logs or pg_stat_statements without giving the password away. The verifier's alphabet
  // (base64, `$`, `:`) needs no quoting beyond the literal's quotes.
  const literal = `'${await scramVerifier(password)}'`;
  // The role is shared by every database of the server; a concurrent ALTER ROLE elsewhere
  // fails this one with "tuple concurrently updated", which is safe to retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await sql.raw(`alter role ${role} login password ${literal}`).execute(db);
      return;
    } catch (error) {
      if (attempt >= 5 || !/tuple concurrently updated/.test(String(error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}
