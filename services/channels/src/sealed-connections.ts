import { CredentialsError, type Database, decryptSecret, routeByConnectionId, type SecretKey, withTenant } from "@konstruct/core";
import type { Kysely } from "kysely";

/** A connection of one channel type with its credentials decrypted. Never logged. */
export interface SealedConnection<K extends string> {
  connectionId: string;
  tenantId: string;
  /** `channel_connections.external_id`: the channel's own id (Slack team, Telegram bot, …). */
  externalId: string;
  credentials: Record<K, string>;
  /** The optional keys the channel declares, where present and non-empty. */
  optional: Partial<Record<string, string>>;
}

/** Where a channel's connections come from and what their credentials must hold. */
export interface SealedConnectionSource<K extends string> {
  /** The app-role database: routing through the security-definer lookup, credentials through RLS. */
  db: Kysely<Database>;
  secretKey: SecretKey;
  /** The channel type the connection must have, and its name in messages (`Slack`, `Telegram`). */
  type: string;
  label: string;
  /** The credential keys the channel declares; each must be a non-empty string. */
  keys: readonly K[];
  /** Keys read when present (a non-empty string), never required. */
  optionalKeys?: readonly string[];
  /**
   * A row without credentials: an error (the operator writes them from a Secret), or `absent`
   * for connections whose credentials an installation writes and an uninstall clears.
   */
  withoutCredentials?: "error" | "absent";
}

/**
 * Loads one connection of a channel that keeps credentials: the tenant from
 * `routeByConnectionId`, then the row and its sealed credentials through `withTenant`,
 * decrypted with the tenant bound in. Null when no connection of this type has the id; a
 * CredentialsError naming what is wrong (never the values) when its credentials are unusable.
 */
export async function loadSealedConnection<K extends string>(
  source: SealedConnectionSource<K>,
  connectionId: string,
): Promise<SealedConnection<K> | null> {
  const { db, label } = source;
  const route = await routeByConnectionId(db, connectionId);
  if (route?.channelType !== source.type) return null;
  const row = await withTenant(db, route.tenantId, (trx) =>
    trx
      .selectFrom("channel_connections")
      .select(["external_id", "credentials"])
      .where("id", "=", connectionId)
      .executeTakeFirst(),
  );
  if (!row) return null;
  if (!row.credentials) {
    if (source.withoutCredentials === "absent") return null;
    throw new CredentialsError(
      `${label} connection ${connectionId} has no credentials; the operator writes them from its Secret`,
    );
  }
  const json = decryptSecret(source.secretKey, route.tenantId, row.credentials);
  return {
    connectionId,
    tenantId: route.tenantId,
    externalId: row.external_id,
    ...parseCredentials(json, source, connectionId),
  };
}

function parseCredentials<K extends string>(
  json: string,
  source: SealedConnectionSource<K>,
  connectionId: string,
): { credentials: Record<K, string>; optional: Partial<Record<string, string>> } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new CredentialsError(`credentials of ${source.label} connection ${connectionId} are not a JSON object`, { cause });
  }
  const fields = (value ?? {}) as Record<string, unknown>;
  const credentials = {} as Record<K, string>;
  for (const key of source.keys) {
    const field = fields[key];
    if (typeof field !== "string" || !field) {
      throw new CredentialsError(
        `credentials of ${source.label} connection ${connectionId} need string fields ${source.keys.join(" and ")}; fix the connection's Secret`,
      );
    }
    credentials[key] = field;
  }
  const optional: Partial<Record<string, string>> = {};
  for (const key of source.optionalKeys ?? []) {
    const field = fields[key];
    if (typeof field === "string" && field) optional[key] = field;
  }
  return { credentials, optional };
}
