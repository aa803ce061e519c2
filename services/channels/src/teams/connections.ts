import type { Database, SecretKey } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";
import { loadSealedConnection } from "../sealed-connections.ts";
import { TEAMS_OPTIONAL_SECRET_KEYS, TEAMS_SECRET_KEYS } from "./definition.ts";

/** One Teams connection with its decrypted credentials. Never logged. */
export interface TeamsConnection {
  connectionId: string;
  tenantId: string;
  /** The bot's Microsoft App ID (`channel_connections.external_id`), lower case. */
  appId: string;
  appPassword: string;
  /** The Entra tenant of a single-tenant bot, or null for a multi-tenant one (`botframework.com`). */
  appTenantId: string | null;
}

/** Where the Teams channel gets a connection's credentials from. */
export interface TeamsConnectionStore {
  /** The connection, or null when no Teams connection has this id. */
  get(connectionId: string): Promise<TeamsConnection | null>;
}

/** Options for {@link createTeamsConnectionStore}. */
export interface TeamsConnectionStoreOptions extends ConnectionCacheOptions {
  db: Kysely<Database>;
  secretKey: SecretKey;
}

/** Reads Teams connections from PostgreSQL (see `loadSealedConnection`) and keeps them for a short TTL. */
export function createTeamsConnectionStore(options: TeamsConnectionStoreOptions): TeamsConnectionStore {
  const source = {
    db: options.db,
    secretKey: options.secretKey,
    type: "teams",
    label: "Teams",
    keys: TEAMS_SECRET_KEYS,
    optionalKeys: TEAMS_OPTIONAL_SECRET_KEYS,
  };

  async function load(connectionId: string): Promise<TeamsConnection | null> {
    const found = await loadSealedConnection(source, connectionId);
    if (!found) return null;
    return {
      connectionId,
      tenantId: found.tenantId,
      // Tokens carry the app id in lower case; the spec may use either.
      appId: found.externalId.toLowerCase(),
      appPassword: found.credentials.appPassword,
      appTenantId: found.optional.appTenantId ?? null,
    };
  }

  return { get: createConnectionCache(load, options) };
}
