import pg from "pg";

// Init container of every pod that uses the schema (see charts/lib/migrations-job.ts): exits 0
// once konstruct_app can log in and the schema exists. konstruct_app is NOLOGIN until the
// migrate command sets its password, after the last migration, so a login means the migrations
// Job has finished. The URL is never logged: it holds a password.

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("wait-for-schema: DATABASE_URL is not set; it is the konstruct_app URL the services use");
  process.exit(2);
}
const timeoutSeconds = Number(process.env.WAIT_FOR_SCHEMA_TIMEOUT_SECONDS ?? "900");
const deadline = Date.now() + timeoutSeconds * 1000;
let lastReport = 0;

for (;;) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  let reason: string;
  try {
    await client.connect();
    const { rows } = await client.query<{ ready: boolean }>("select to_regclass('public.tenants') is not null as ready");
    if (rows[0]?.ready) {
      console.log("wait-for-schema: the schema is migrated");
      process.exit(0);
    }
    reason = "konstruct_app logged in but the schema has no tenants table yet";
  } catch (error) {
    // "password authentication failed" is the normal answer until the migrations Job ends.
    reason = (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
  if (Date.now() > deadline) {
    console.error(`wait-for-schema: gave up after ${timeoutSeconds}s (${reason}); check the konstruct-migrate Job's logs`);
    process.exit(1);
  }
  if (Date.now() - lastReport > 10_000) {
    console.log(`wait-for-schema: waiting for the migrations Job (${reason})`);
    lastReport = Date.now();
  }
  await new Promise((resolve) => setTimeout(resolve, 2_000));
}
