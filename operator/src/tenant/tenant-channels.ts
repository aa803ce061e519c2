import { type ChannelDefinition, channelDefinition, connectionPath, connectionPathOf } from "@konstruct/channels";
import { decryptSecret, encryptSecret } from "@konstruct/core/crypto";
import type { Tenant, TenantChannelSpec, TenantChannelStatus } from "../api/tenant.ts";
import { canonical, jsonEqual, notReady, type Outcome, ok } from "../conditions.ts";
import { messageOf, reasonOf, SpecConflictError } from "../errors.ts";
import type { ChannelRow } from "../ports.ts";
import { ensureRegistered, ensureUnregistered } from "./channel-registration.ts";
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
  const declared = Object.fromEntries([...required, ...optional].filter((k) => data[k]).map((k) => [k, data[k] as string]));
  const problems = definitionOf(channel).checkCredentials?.(declared) ?? [];
  if (problems.length > 0) {
    throw new SpecConflictError("SecretInvalid", `Secret ${names.namespace}/${ref.name}: ${problems.join("; ")}`);
  }
  return declared;
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

/** One channel's status, and the reason it failed for the condition. */
interface ChannelResult {
  status: TenantChannelStatus;
  reason?: string;
}

/**
 * Upserts one channel_connections row per `spec.channels` entry, with its credentials read
 * from the referenced Secret and stored encrypted (bound to the tenant id), registers each
 * connection with its channel's service when the channel asks for it (Telegram's webhook) and its
 * URL or credentials changed, and removes the rows (and registrations) of channels no longer in
 * the spec. A channel whose Secret is missing keeps its last row.
 */
export async function ensureTenantChannels(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<ChannelsOutcome> {
  const specs = tenant.spec.channels ?? [];
  const rows = await deps.channels.list(names.tenantId);
  const results: ChannelResult[] = [];
  for (const channel of specs) results.push(await ensureChannel(tenant, channel, rows, names, deps));
  const removals: ChannelResult[] = [];
  for (const row of rows.filter((r) => !specs.some((c) => c.name === r.name))) {
    const removal = await removeChannel(row, names, deps);
    if (removal) removals.push(removal);
  }
  const statuses = results.map((r) => r.status);
  const failing = [...results, ...removals].filter((r) => !r.status.ready);
  if (failing.length === 0) return { ...ok("ChannelsReady", `${statuses.length} channel(s) connected`), channels: statuses };
  // A failure of one kind keeps its own reason: webhook registration (WebhookRegistrationFailed),
  // or waiting for someone to click "Add to Slack" (AwaitingInstallation), which is no failure.
  const reasons = failing.map((r) => r.reason ?? "ChannelFailed");
  const single = reasons.every((r) => r === reasons[0]) ? reasons[0] : undefined;
  const reason = single?.startsWith("Webhook") || single === "AwaitingInstallation" ? single : "ChannelFailed";
  return { ...notReady(reason, failing.map((r) => `${r.status.name}: ${r.status.message}`).join("; ")), channels: statuses };
}

/** Stores one channel's connection (insert or update what differs), then registers it with its service. */
async function ensureChannel(
  tenant: Tenant,
  channel: TenantChannelSpec,
  rows: readonly ChannelRow[],
  names: TenantNames,
  deps: TenantDeps,
): Promise<ChannelResult> {
  const row = rows.find((r) => r.name === channel.name);
  const failed = (error: unknown, where: { connectionId: string; type: string } | undefined): ChannelResult => ({
    status: {
      name: channel.name,
      type: channel.type,
      ready: false,
      message: messageOf(error),
      ...(where ? { connectionId: where.connectionId, webhookPath: webhookPath(where.type, where.connectionId) } : {}),
    },
    reason: reasonOf(error, "ChannelFailed"),
  });
  let connectionId: string;
  let definition: ChannelDefinition;
  let credentials: Credentials;
  let install: ChannelDefinition["install"];
  let installed = false;
  try {
    definition = definitionOf(channel);
    // An installed channel's credentials are the installation's (the gateway's OAuth callback
    // stores them, its uninstall clears them); the spec decides only that the connection exists.
    install = definition.install?.applies(channel) ? definition.install : undefined;
    credentials = install ? null : await readCredentials(channel, names, deps);
    const stored = await storeConnection(
      channel,
      row,
      credentials,
      definition.settings(channel),
      install !== undefined,
      names,
      deps,
    );
    connectionId = stored.connectionId;
    installed = stored.installed;
  } catch (error) {
    return failed(error, row ? { connectionId: row.id, type: row.type } : undefined);
  }
  const path = webhookPath(channel.type, connectionId);
  if (install) {
    const installPath = connectionPath({ connectionRoute: install.route }, connectionId);
    return {
      status: {
        name: channel.name,
        type: channel.type,
        connectionId,
        ready: installed,
        ...(installed
          ? {}
          : { message: `${AWAITING_INSTALLATION}: open ${installPath} on the gateway's public host to install it` }),
        webhookPath: path,
        installPath,
        installed,
      },
      ...(installed ? {} : { reason: "AwaitingInstallation" }),
    };
  }
  const previous = tenant.status?.channels?.find((s) => s.name === channel.name && s.connectionId === connectionId);
  try {
    const registration =
      credentials === null
        ? ({ kind: "skipped", note: null } as const)
        : await ensureRegistered(
            definition,
            { connectionId, externalId: channel.externalId, credentials },
            previous?.registration,
            deps,
          );
    return {
      status: {
        name: channel.name,
        type: channel.type,
        connectionId,
        ready: true,
        webhookPath: path,
        ...(registration.kind === "registered" ? { registration: registration.fingerprint } : {}),
        ...(registration.kind === "skipped" && registration.note ? { message: registration.note } : {}),
      },
    };
  } catch (error) {
    return failed(error, { connectionId, type: channel.type });
  }
}

/**
 * Inserts the connection's row, or updates the fields that differ; returns its id and, for a
 * channel installed by OAuth, whether an installation's credentials are kept in it.
 */
async function storeConnection(
  channel: TenantChannelSpec,
  row: ChannelRow | undefined,
  credentials: Credentials,
  settings: Record<string, unknown>,
  byInstall: boolean,
  names: TenantNames,
  deps: TenantDeps,
): Promise<{ connectionId: string; installed: boolean }> {
  const sealed = () =>
    credentials === null ? null : encryptSecret(deps.secretKey, names.tenantId, JSON.stringify(canonical(credentials)));
  const fields = { type: channel.type, externalId: channel.externalId, settings };
  if (row === undefined) {
    const connectionId = await deps.channels.insert(names.tenantId, { name: channel.name, ...fields, credentials: sealed() });
    return { connectionId, installed: false };
  }
  const moved = row.type !== channel.type || row.externalId !== channel.externalId;
  const sameSettings = jsonEqual(row.settings, settings);
  // An installation belongs to the workspace it was made in: another externalId drops it.
  const keep = byInstall && !moved && sameSettings;
  const credentialsChanged = byInstall
    ? row.credentials !== null && !keep
    : !jsonEqual(storedCredentials(row, names, deps), credentials);
  if (moved || !sameSettings || credentialsChanged) {
    // Another bot or account now: the old one stops pointing here first.
    if (moved) await unregisterRow(row, names, deps);
    await deps.channels.update(names.tenantId, { ...row, ...fields, credentials: keep ? row.credentials : sealed() });
  }
  return { connectionId: row.id, installed: keep && row.credentials !== null };
}

/** Removes a channel no longer in the spec: its registration, then its row; null when done. */
async function removeChannel(row: ChannelRow, names: TenantNames, deps: TenantDeps): Promise<ChannelResult | null> {
  try {
    await unregisterRow(row, names, deps);
    await deps.channels.delete(names.tenantId, row.id);
    return null;
  } catch (error) {
    // The row stays, so the next attempt still has the credentials to remove the registration with.
    return {
      status: { name: row.name, type: row.type, ready: false, message: `removing: ${messageOf(error)}` },
      reason: reasonOf(error, "ChannelFailed"),
    };
  }
}

/**
 * Removes a stored connection's registration with its service (before the row goes or points at
 * another account). Rows whose credentials cannot be read (a rotated key) have nothing to call with.
 */
export async function unregisterRow(row: ChannelRow, names: TenantNames, deps: TenantDeps): Promise<void> {
  const definition = channelDefinition(row.type);
  const credentials = storedCredentials(row, names, deps);
  if (definition === undefined || !credentials) return;
  await ensureUnregistered(definition, { connectionId: row.id, externalId: row.externalId, credentials }, deps);
}
