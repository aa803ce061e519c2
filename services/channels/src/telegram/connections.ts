import { CredentialsError, type Database, decryptSecret, routeByConnectionId, type SecretKey, withTenant } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";

/** One Telegram connection with its decrypted credentials. Never logged. */
export interface TelegramConnection {
  connectionId: string;
  tenantId: string;
  /** The bot's numeric user id (`channel_connections.external_id`), as a string. */
  botId: string;
  botToken: string;
  webhookSecret: string;
}

/** Where the Telegram channel gets a connection's credentials from. */
export interface TelegramConnectionStore {
  /** The connection, or null when no Telegram connection has this id. */
  get(connectionId: string): Promise<TelegramConnection | null>;
}

/** Options for {@link createTelegramConnectionStore}. */
export interface TelegramConnectionStoreOptions extends ConnectionCacheOptions {
  /** The app-role database: routing through the security-definer lookup, credentials through RLS. */
  db: Kysely<Database>;
  secretKey: SecretKey;
}

/**
 * Reads Telegram connections from PostgreSQL — tenant from `routeByConnectionId`, then the row
 * and its sealed credentials through `withTenant`, decrypted with the tenant bound in — and keeps
 * them for a short TTL.
 */
export function createTelegramConnectionStore(options: TelegramConnectionStoreOptions): TelegramConnectionStore {
  const { db, secretKey } = options;

  async function load(connectionId: string): Promise<TelegramConnection | null> {
    const route = await routeByConnectionId(db, connectionId);
    if (route?.channelType !== "telegram") return null;
    const row = await withTenant(db, route.tenantId, (trx) =>
      trx
        .selectFrom("channel_connections")
        .select(["external_id", "credentials"])
        .where("id", "=", connectionId)
        .executeTakeFirst(),
    );
    if (!row) return null;
    if (!row.credentials) {
      throw new CredentialsError(
        `Telegram connection ${connectionId} has no credentials; the operator writes them from its Secret`,
      );
    }
    const credentials = parseTelegramCredentials(decryptSecret(secretKey, route.tenantId, row.credentials), connectionId);
    // A token is `<bot id>:<secret>`: one for another bot would answer as someone else's bot.
    if (!credentials.botToken.startsWith(`${row.external_id}:`)) {
      throw new CredentialsError(
        `the bot token of Telegram connection ${connectionId} is not the token of bot ${row.external_id} (its externalId); fix the Secret or the externalId`,
      );
    }
    return { connectionId, tenantId: route.tenantId, botId: row.external_id, ...credentials };
  }

  return { get: createConnectionCache(load, options) };
}

/** The two credential fields, or a CredentialsError naming what is wrong (never the values). */
export function parseTelegramCredentials(json: string, connectionId: string): { botToken: string; webhookSecret: string } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw new CredentialsError(`credentials of Telegram connection ${connectionId} are not a JSON object`, { cause });
  }
  const { botToken, webhookSecret } = (value ?? {}) as Record<string, unknown>;
  if (typeof botToken !== "string" || !botToken || typeof webhookSecret !== "string" || !webhookSecret) {
    throw new CredentialsError(
      `credentials of Telegram connection ${connectionId} need string fields botToken and webhookSecret; fix the connection's Secret`,
    );
  }
  return { botToken, webhookSecret };
}
