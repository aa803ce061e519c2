import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./types.ts";

// PostgreSQL `bigint` (int8) arrives as a string by default to avoid precision loss; token
// counters stay far below 2^53, so numbers are the honest type for them.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// `date` columns are calendar days, not instants: keep the ISO string instead of a local Date.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);

/** Options for {@link createDatabase}. */
export interface DatabaseOptions {
  /** Pool size; each process keeps one pool. */
  max?: number;
  applicationName?: string;
}

/** Creates the process's one `Kysely<Database>` over a pg pool. */
export function createDatabase(connectionString: string, options: DatabaseOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "konstruct",
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client's error (the server restarted) must not crash the process; the pool
  // discards that client and the next query gets a fresh connection.
  pool.on("error", () => {});
  // A client in use whose connection drops both rejects its query (which is how kysely reports
  // it) and emits 'error'. pg-pool listens only while a client is idle and kysely not at all,
  // so without this listener a database outage mid-query crashed the whole process.
  pool.on("connect", (client) => client.on("error", () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
