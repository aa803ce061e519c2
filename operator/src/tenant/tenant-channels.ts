import { type ChannelDefinition, channelDefinition, connectionPath, connectionPathOf } from "@konstruct/channels";
import { decryptSecret, encryptSecret } from "@konstruct/core";
import type { Tenant, TenantChannelSpec, TenantChannelStatus } from "../api/tenant.ts";
import { canonical, jsonEqual, notReady, type Outcome, ok } from "../conditions.ts";
import { messageOf, SpecConflictError } from "../errors.ts";
import type { ChannelRow } from "../ports.ts";
import type { TenantDeps, TenantNames } from "./tenant-context.ts";

/** The path the gateway serves a connection on, from its channel's route. */
export function webhookPath(type: string, connectionId: string): string {
  return connectionPathOf(type, connectionId) ?? "";
}

/** The result of ensuring every channel: a condition and one status entry per channel. */
export interface ChannelsOutcome extends Outcome {
  channels: TenantChannelStatus[];
}

type Credentials = Record<string, string> | null;

/** The start of the status message of a channel whose installation has not happened yet. */
const AWAITING_INSTALLATION = "waiting for the installation";

async function readCredentials(channel: TenantChannelSpec, names: TenantNames, deps: TenantDeps): Promise<Credentials> {
  const ref = channel.credentialsSecretRef;
  if (ref === undefined) return null;
  const data = await deps.kube.getSecret(names.namespace, ref.name);
  if (data === null) throw new SpecConflictError("SecretNotFound", `Secret ${names.namespace}/${ref.name} not found; create it`);
  const { required, optional } = definitionOf(channel).credentials;
  if (required.length === 0 && optional.length === 0) return data;
  const missing = required.filter((k) => !data[k]);
  if (missing.length > 0) {
    throw new SpecConflictError("SecretIncomplete", `Secret ${names.namespace}/${ref.name} lacks ${missing.join(" and ")}`);
  }
  // Only the keys the channel declares are stored: a Secret may hold other things.
  return Object.fromEntries([...required, ...optional].filter((k) => data[k]).map((k) => [k, data[k] as string]));
}

function definitionOf(channel: TenantChannelSpec): ChannelDefinition {
  const definition = channelDefinition(channel.type);
  // The CRD's enum is the channel list, so the API server refuses unknown types first.
  if (definition === undefined)
    throw new SpecConflictError("UnknownChannelType", `no channel module handles type ${channel.type}`);
  return definition;
}

function storedCredentials(row: ChannelRow, names: TenantNames, deps: TenantDeps): Credentials | undefined {
  if (row.credentials === null) return null;
  try {
    return JSON.parse(decryptSecret(deps.secretKey, names.tenantId, row.credentials)) as Credentials;
  } catch {
    return undefined; // unreadable (rotated key): rewrite it
  }
}

/**
 * Upserts one channel_connections row per `spec.channels` entry, with its credentials read
 * from the referenced Secret and stored encrypted (bound to the tenant id), and deletes rows
 * of channels no longer in the spec. A channel whose Secret is missing keeps its last row.
 */
export async function ensureTenantChannels(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<ChannelsOutcome> {
  const specs = tenant.spec.channels ?? [];
  const rows = await deps.channels.list(names.tenantId);
  const statuses: TenantChannelStatus[] = [];
  for (const channel of specs) {
    const row = rows.find((r) => r.name === channel.name);
    try {
      const definition = definitionOf(channel);
      // An installed channel's credentials are the installation's (the gateway's OAuth callback
      // stores them, its uninstall clears them); the spec decides only that the connection exists.
      const install = definition.install?.applies(channel) ? definition.install : undefined;
      const credentials = install ? null : await readCredentials(channel, names, deps);
      const settings = definition.settings(channel);
      const sealed = () =>
        credentials === null ? null : encryptSecret(deps.secretKey, names.tenantId, JSON.stringify(canonical(credentials)));
      let id = row?.id;
      let installed = false;
      if (row === undefined) {
        id = await deps.channels.insert(names.tenantId, {
          name: channel.name,
          type: channel.type,
          externalId: channel.externalId,
          credentials: sealed(),
          settings,
        });
      } else {
        const sameTarget = row.type === channel.type && row.externalId === channel.externalId;
        // An installation belongs to the workspace it was made in: another externalId drops it.
        const keep = install !== undefined && sameTarget && jsonEqual(row.settings, settings);
        installed = keep && row.credentials !== null;
        if (
          !sameTarget ||
          !jsonEqual(row.settings, settings) ||
          (install ? row.credentials !== null && !keep : !jsonEqual(storedCredentials(row, names, deps), credentials))
        ) {
          await deps.channels.update(names.tenantId, {
            ...row,
            type: channel.type,
            externalId: channel.externalId,
            credentials: keep ? row.credentials : sealed(),
            settings,
          });
        }
      }
      const installPath = install ? connectionPath({ connectionRoute: install.route }, id as string) : undefined;
      statuses.push({
        name: channel.name,
        type: channel.type,
        connectionId: id,
        ready: install ? installed : true,
        ...(install && !installed
          ? { message: `${AWAITING_INSTALLATION}: open ${installPath} on the gateway's public host to install it` }
          : {}),
        webhookPath: webhookPath(channel.type, id as string),
        ...(install ? { installPath, installed } : {}),
      });
    } catch (error) {
      statuses.push({
        name: channel.name,
        type: channel.type,
        ready: false,
        message: messageOf(error),
        ...(row ? { connectionId: row.id, webhookPath: webhookPath(row.type, row.id) } : {}),
      });
    }
  }
  for (const row of rows) {
    if (!specs.some((c) => c.name === row.name)) await deps.channels.delete(names.tenantId, row.id);
  }
  const failing = statuses.filter((s) => !s.ready);
  if (failing.length > 0) {
    // Waiting for someone to click "Add to Slack" is no failure; say so in the reason.
    const waiting = failing.every((s) => s.message?.startsWith(AWAITING_INSTALLATION));
    const outcome = notReady(
      waiting ? "AwaitingInstallation" : "ChannelFailed",
      failing.map((s) => `${s.name}: ${s.message}`).join("; "),
    );
    return { ...outcome, channels: statuses };
  }
  return { ...ok("ChannelsReady", `${statuses.length} channel(s) connected`), channels: statuses };
}
