import type { Database, SecretKey } from "@konstruct/core";
import type { Kysely } from "kysely";
import { type ConnectionCacheOptions, createConnectionCache } from "../connection-cache.ts";
import { loadSealedConnection } from "../sealed-connections.ts";
import { WHATSAPP_SECRET_KEYS } from "./definition.ts";

/** One WhatsApp connection with its decrypted credentials. Never logged. */
export interface WhatsAppConnection {
  connectionId: string;
  tenantId: string;
  /** The business phone number's id (`channel_connections.external_id`). */
  phoneNumberId: string;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
}

/** Where the WhatsApp channel gets a connection's credentials from. */
export interface WhatsAppConnectionStore {
  /** The connection, or null when no WhatsApp connection has this id. */
  get(connectionId: string): Promise<WhatsAppConnection | null>;
}

/** Options for {@link createWhatsAppConnectionStore}. */
export interface WhatsAppConnectionStoreOptions extends ConnectionCacheOptions {
  db: Kysely<Database>;
  secretKey: SecretKey;
}

/** Reads WhatsApp connections from PostgreSQL (see `loadSealedConnection`) and keeps them for a short TTL. */
export function createWhatsAppConnectionStore(options: WhatsAppConnectionStoreOptions): WhatsAppConnectionStore {
  const source = {
    db: options.db,
    secretKey: options.secretKey,
    type: "whatsapp",
    label: "WhatsApp",
    keys: WHATSAPP_SECRET_KEYS,
  };
  async function load(connectionId: string): Promise<WhatsAppConnection | null> {
    const found = await loadSealedConnection(source, connectionId);
    if (!found) return null;
    return { connectionId, tenantId: found.tenantId, phoneNumberId: found.externalId, ...found.credentials };
  }
  return { get: createConnectionCache(load, options) };
}
