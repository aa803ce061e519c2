import { CredentialsError, type Database, type SecretKey } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";
import { loadSealedConnection } from "../sealed-connections.ts";
import { TELEGRAM_SECRET_KEYS } from "./definition.ts";

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
 * Reads Telegram connections from PostgreSQL (see `loadSealedConnection`) and keeps them for a
 * short TTL; a token that is not the token of the connection's bot is refused.
 */
export function createTelegramConnectionStore(options: TelegramConnectionStoreOptions): TelegramConnectionStore {
  const source = {
    db: options.db,
    secretKey: options.secretKey,
    type: "telegram",
    label: "Telegram",
    keys: TELEGRAM_SECRET_KEYS,
  };

  async function load(connectionId: string): Promise<TelegramConnection | null> {
    const found = await loadSealedConnection(source, connectionId);
    if (!found) return null;
    const { botToken, webhookSecret } = found.credentials;
    // A token is `<bot id>:<secret>`: one for another bot would answer as someone else's bot.
    if (!botToken.startsWith(`${found.externalId}:`)) {
      throw new CredentialsError(
        `the bot token of Telegram connection ${connectionId} is not the token of bot ${found.externalId} (its externalId); fix the Secret or the externalId`,
      );
    }
    return { connectionId, tenantId: found.tenantId, botId: found.externalId, botToken, webhookSecret };
  }

  return { get: createConnectionCache(load, options) };
}
