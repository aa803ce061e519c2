import type { Database, SecretKey } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";
import { loadSealedConnection } from "../sealed-connections.ts";

/** One Slack connection with its decrypted credentials. Never logged. */
export interface SlackConnection {
  connectionId: string;
  tenantId: string;
  /** The Slack team id the connection is installed in (`channel_connections.external_id`). */
  teamId: string;
  botToken: string;
  /**
   * The signing secret of the tenant's own Slack app, or null for an "Add to Slack" installation
   * of the shared app, whose events arrive on the shared route under the platform's secret.
   */
  signingSecret: string | null;
}

/** Where the Slack channel gets a connection's credentials from. */
export interface SlackConnectionStore {
  /** The connection, or null when no Slack connection has this id (or an installed one is uninstalled). */
  get(connectionId: string): Promise<SlackConnection | null>;
  /** Drops a cached connection after its row changed (an installation or uninstall). */
  forget?(connectionId: string): void;
}

/** Options for {@link createSlackConnectionStore}. */
export interface SlackConnectionStoreOptions extends ConnectionCacheOptions {
  /** The app-role database: routing through the security-definer lookup, credentials through RLS. */
  db: Kysely<Database>;
  secretKey: SecretKey;
}

/**
 * Reads Slack connections from PostgreSQL (see `loadSealedConnection`) and keeps them for a
 * short TTL. Concurrent misses for one id share one query. A Secret-backed connection always has
 * both keys (the operator refuses a Secret without them); an installation stores the bot token
 * only, and none once uninstalled.
 */
export function createSlackConnectionStore(options: SlackConnectionStoreOptions): SlackConnectionStore {
  const source = {
    db: options.db,
    secretKey: options.secretKey,
    type: "slack",
    label: "Slack",
    keys: ["botToken"] as const,
    optionalKeys: ["signingSecret"],
    withoutCredentials: "absent" as const,
  };

  async function load(connectionId: string): Promise<SlackConnection | null> {
    const found = await loadSealedConnection(source, connectionId);
    if (!found) return null;
    return {
      connectionId,
      tenantId: found.tenantId,
      teamId: found.externalId,
      botToken: found.credentials.botToken,
      signingSecret: found.optional.signingSecret ?? null,
    };
  }

  const cache = createConnectionCache(load, options);
  return { get: cache, forget: cache.forget };
}
