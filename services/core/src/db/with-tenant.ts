import { type Kysely, sql, type Transaction } from "kysely";
import { assertTenantId } from "../ids.ts";
import type { Database } from "./types.ts";

/**
 * Runs `fn` in a transaction scoped to one tenant: the only way service code reaches tenant
 * tables. `set_config(…, true)` is transaction-local, so the setting cannot leak to the next
 * user of a pooled connection, and the tenant id travels as a bound parameter, never as SQL
 * text. The id is validated before any SQL runs.
 */
export async function withTenant<T>(
  db: Kysely<Database>,
  tenantId: string,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  assertTenantId(tenantId);
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('app.current_tenant', ${tenantId}, true)`.execute(trx);
    return fn(trx);
  });
}

/** Where a channel's traffic belongs, before any tenant is known. */
export interface ChannelRoute {
  connectionId: string;
  tenantId: string;
  channelType: string;
  externalId: string;
}

interface RouteRow {
  connection_id: string;
  tenant_id: string;
  channel_type: string;
  external_id: string;
}

const toRoute = (row: RouteRow): ChannelRoute => ({
  connectionId: row.connection_id,
  tenantId: row.tenant_id,
  channelType: row.channel_type,
  externalId: row.external_id,
});

/**
 * Resolves a channel's external id (a Slack team id) to its connection and tenant through the
 * `konstruct_route_by_external_id` security-definer function: the routing index is readable
 * only through these two lookups, never as a table, and reveals no credentials.
 */
export async function routeByExternalId(
  db: Kysely<Database>,
  channelType: string,
  externalId: string,
): Promise<ChannelRoute | null> {
  const { rows } = await sql<RouteRow>`select * from konstruct_route_by_external_id(${channelType}, ${externalId})`.execute(db);
  return rows[0] ? toRoute(rows[0]) : null;
}

/** Resolves a connection id (from a per-connection webhook path) to its tenant. */
export async function routeByConnectionId(db: Kysely<Database>, connectionId: string): Promise<ChannelRoute | null> {
  if (!/^[0-9a-f-]{36}$/.test(connectionId)) return null;
  const { rows } = await sql<RouteRow>`select * from konstruct_route_by_connection(${connectionId}::uuid)`.execute(db);
  return rows[0] ? toRoute(rows[0]) : null;
}
