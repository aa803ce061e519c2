import { createHmac } from "node:crypto";
import { type ChannelDefinition, ChannelHookError, type ConnectionContext, connectionPath } from "@konstruct/channels";
import { canonical } from "../conditions.ts";
import type { ChannelServices, TenantDeps } from "./tenant-context.ts";

/** One connection as the registration sees it. */
export interface RegisteredConnection {
  connectionId: string;
  externalId: string;
  credentials: Readonly<Record<string, string>>;
}

/** What registering one connection came to. */
export type Registration =
  /** Registered now or earlier with these very URL and credentials: the fingerprint to keep in status. */
  | { kind: "registered"; fingerprint: string }
  /** The channel registers nothing (no hook), or the operator has no public base URL; `note` says what to do then. */
  | { kind: "skipped"; note: string | null };

/** The public URL of a connection: the base URL (with any path prefix it has) and the connection's path. */
export function publicUrlOf(base: string, definition: ChannelDefinition, connectionId: string): string {
  return `${base.replace(/\/+$/, "")}${connectionPath(definition, connectionId)}`;
}

function contextOf(
  definition: ChannelDefinition,
  connection: RegisteredConnection,
  publicBaseUrl: string,
  services: ChannelServices,
): ConnectionContext {
  return {
    ...connection,
    publicUrl: publicUrlOf(publicBaseUrl, definition, connection.connectionId),
    apiUrl: services.apiUrls[definition.type] ?? definition.api?.defaultUrl ?? "",
  };
}

/**
 * What was registered, as a keyed hash (HMAC under the operator's secret key) of the public URL
 * and credentials: it sits in the Tenant's status, readable by whoever reads Tenants, so a plain
 * hash of a short webhook secret would be guessable; this is not without the key.
 */
function fingerprintOf(deps: TenantDeps, context: ConnectionContext): string {
  const material = JSON.stringify(
    canonical({ url: context.publicUrl, externalId: context.externalId, credentials: context.credentials }),
  );
  return createHmac("sha256", deps.secretKey.bytes).update(material).digest("base64url").slice(0, 22);
}

/**
 * Registers a connection with its channel's service (the channel's `connect`) unless the Tenant's
 * status shows it registered with the same URL and credentials (`previous`). A failure throws the
 * channel's ChannelHookError; the caller turns it into the channel's status and a retry.
 */
export async function ensureRegistered(
  definition: ChannelDefinition,
  connection: RegisteredConnection,
  previous: string | undefined,
  deps: TenantDeps,
): Promise<Registration> {
  const services = deps.channelServices;
  if (definition.connect === undefined || services === undefined) return { kind: "skipped", note: null };
  if (services.publicBaseUrl === null) {
    return {
      kind: "skipped",
      note:
        "not registered with the service: the operator has no public base URL (chart value operator.publicBaseUrl, " +
        "variable PUBLIC_BASE_URL); register the webhookPath yourself",
    };
  }
  const context = contextOf(definition, connection, services.publicBaseUrl, services);
  const fingerprint = fingerprintOf(deps, context);
  if (previous === fingerprint) return { kind: "registered", fingerprint };
  await definition.connect(context);
  deps.log.info({ type: definition.type, connectionId: connection.connectionId }, "registered the connection with its service");
  return { kind: "registered", fingerprint };
}

/**
 * Removes a connection's registration (the channel's `disconnect`) before its row goes. A
 * refusal no retry can fix (a revoked token: nothing left to remove) is logged and counts as
 * done; one that may pass later throws, so the row stays and the reconcile retries.
 */
export async function ensureUnregistered(
  definition: ChannelDefinition,
  connection: RegisteredConnection,
  deps: TenantDeps,
): Promise<void> {
  const services = deps.channelServices;
  if (definition.disconnect === undefined || services === undefined || services.publicBaseUrl === null) return;
  try {
    await definition.disconnect(contextOf(definition, connection, services.publicBaseUrl, services));
    deps.log.info({ type: definition.type, connectionId: connection.connectionId }, "removed the connection from its service");
  } catch (error) {
    if (error instanceof ChannelHookError && !error.retryable) {
      deps.log.warn(
        { type: definition.type, connectionId: connection.connectionId, reason: error.reason, detail: error.message },
        "could not remove the connection from its service, and no retry can; leaving it",
      );
      return;
    }
    throw error;
  }
}
