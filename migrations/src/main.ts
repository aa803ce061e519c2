import { ConfigError, createDatabase, createLogger, fields, parseConfig } from "@konstruct/core";
import { Type } from "@sinclair/typebox";
import { migrateToLatest, setAppRolePassword, setOperatorRolePassword } from "./migrate.ts";

// `npm run migrate`: applies migrations as the admin role, then sets the app role's password
// from DATABASE_URL and the operator role's from DATABASE_OPERATOR_URL, when they are given.
const schema = Type.Object({
  DATABASE_ADMIN_URL: fields.DATABASE_ADMIN_URL,
  DATABASE_URL: Type.Optional(fields.DATABASE_URL),
  DATABASE_OPERATOR_URL: Type.Optional(fields.DATABASE_OPERATOR_URL),
  LOG_LEVEL: fields.LOG_LEVEL,
});

async function main(): Promise<number> {
  let config: ReturnType<typeof parseConfig<typeof schema>>;
  try {
    config = parseConfig(schema, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const log = createLogger({ name: "migrate", level: config.LOG_LEVEL });
  const db = createDatabase(config.DATABASE_ADMIN_URL, { max: 1, applicationName: "konstruct-migrate" });
  try {
    const { results = [] } = await migrateToLatest(db);
    for (const r of results) log.info({ migration: r.migrationName, status: r.status }, "migration");
    if (results.length === 0) log.info("schema already up to date");
    if (config.DATABASE_URL) {
      await setAppRolePassword(db, config.DATABASE_URL);
      log.info("konstruct_app login password set from DATABASE_URL");
    }
    if (config.DATABASE_OPERATOR_URL) {
      await setOperatorRolePassword(db, config.DATABASE_OPERATOR_URL);
      log.info("konstruct_operator login password set from DATABASE_OPERATOR_URL");
    }
    return 0;
  } catch (error) {
    log.error({ err: error }, "migration failed");
    return 1;
  } finally {
    await db.destroy();
  }
}

process.exitCode = await main();
