import type { Database, SecretKey } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";
import { loadSealedConnection } from "../sealed-connections.ts";
import { SLACK_SECRET_KEYS } from "./definition.ts";

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
 * Reads Slack connections from PostgreSQL (see `loadSealedConnection`) and keeps them for a
 * short TTL. Concurrent misses for one id share one query.
 */
export function createSlackConnectionStore(options: SlackConnectionStoreOptions): SlackConnectionStore {
  const source = { db: options.db, secretKey: options.secretKey, type: "slack", label: "Slack", keys: SLACK_SECRET_KEYS };

  async function load(connectionId: string): Promise<SlackConnection | null> {
    const found = await loadSealedConnection(source, connectionId);
    if (!found) return null;
    const { botToken, signingSecret } = found.credentials;
    return { connectionId, tenantId: found.tenantId, teamId: found.externalId, botToken, signingSecret };
  }

  return { get: createConnectionCache(load, options) };
}
