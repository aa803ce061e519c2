import { CredentialsError, type Database, decryptSecret, routeByConnectionId, type SecretKey, withTenant } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";

/** One Slack connection with its decrypted credentials. Never logged. */
export interface SlackConnection {
  connectionId: string;
  tenantId: string;
  /** The Slack team id the connection is installed in (`channel_connections.external_id`). */
  teamId: string;
  botToken: string;
  signingSecret: string;
}

/** Where the Slack channel gets a connection's credentials from. */
export interface SlackConnectionStore {
  /** The connection, or null when no Slack connection has this id. */
  get(connectionId: string): Promise<SlackConnection | null>;
}

/** Options for {@link createSlackConnectionStore}. */
export interface SlackConnectionStoreOptions extends ConnectionCacheOptions {
  /** The app-role database: routing through the security-definer lookup, credentials through RLS. */
  db: Kysely<Database>;
  secretKey: SecretKey;
}

/**
 * Reads Slack connections from PostgreSQL — tenant from `routeByConnectionId`, then the row and
 * its sealed credentials through `withTenant`, decrypted with the tenant bound in — and keeps
 * them for a short TTL. Concurrent misses for one id share one query.
 */
export function createSlackConnectionStore(options: SlackConnectionStoreOptions): SlackConnectionStore {
  const { db, secretKey } = options;

  async function load(connectionId: string): Promise<SlackConnection | null> {
    const route = await routeByConnectionId(db, connectionId);
    if (route?.channelType !== "slack") return null;
    const row = await withTenant(db, route.tenantId, (trx) =>
      trx
        .selectFrom("channel_connections")
        .select(["external_id", "credentials"])
        .where("id", "=", connectionId)
        .executeTakeFirst(),
    );
    if (!row) return null;
    if (!row.credentials) {
      throw new CredentialsError(`Slack connection ${connectionId} has no credentials; the operator writes them from its Secret`);
    }
    const credentials = parseCredentials(decryptSecret(secretKey, route.tenantId, row.credentials), connectionId);
    return { connectionId, tenantId: route.tenantId, teamId: row.external_id, ...credentials };
  }

  return { get: createConnectionCache(load, options) };
}

function parseCredentials(json: string, connectionId: string): { botToken: string; signingSecret: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new CredentialsError(`credentials of Slack connection ${connectionId} are not a JSON object`, { cause });
  }
  const { botToken, signingSecret } = (value ?? {}) as Record<string, unknown>;
  if (typeof botToken !== "string" || !botToken || typeof signingSecret !== "string" || !signingSecret) {
    throw new CredentialsError(
      `credentials of Slack connection ${connectionId} need string fields botToken and signingSecret; fix the connection's Secret`,
    );
  }
  return { botToken, signingSecret };
}
