import { type ChannelDefinition, channelDefinition, connectionPathOf } from "@konstruct/channels";
import { decryptSecret, encryptSecret } from "@konstruct/core";
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
  const statuses: TenantChannelStatus[] = [];
  const reasons: string[] = [];
  for (const channel of specs) {
    const row = rows.find((r) => r.name === channel.name);
    try {
      const definition = definitionOf(channel);
      const credentials = await readCredentials(channel, names, deps);
      const settings = definition.settings(channel);
      const sealed = () =>
        credentials === null ? null : encryptSecret(deps.secretKey, names.tenantId, JSON.stringify(canonical(credentials)));
      let id = row?.id;
      if (row === undefined) {
        id = await deps.channels.insert(names.tenantId, {
          name: channel.name,
          type: channel.type,
          externalId: channel.externalId,
          credentials: sealed(),
          settings,
        });
      } else if (
        row.type !== channel.type ||
        row.externalId !== channel.externalId ||
        !jsonEqual(row.settings, settings) ||
        !jsonEqual(storedCredentials(row, names, deps), credentials)
      ) {
        // Another bot or service account now: the old one stops pointing here first.
        if (row.type !== channel.type || row.externalId !== channel.externalId) await unregisterRow(row, names, deps);
        await deps.channels.update(names.tenantId, {
          ...row,
          type: channel.type,
          externalId: channel.externalId,
          credentials: sealed(),
          settings,
        });
      }
      const connectionId = id as string;
      const path = webhookPath(channel.type, connectionId);
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
        statuses.push({
          name: channel.name,
          type: channel.type,
          connectionId,
          ready: true,
          webhookPath: path,
          ...(registration.kind === "registered" ? { registration: registration.fingerprint } : {}),
          ...(registration.kind === "skipped" && registration.note ? { message: registration.note } : {}),
        });
      } catch (error) {
        reasons.push(reasonOf(error, "ChannelFailed"));
        statuses.push({
          name: channel.name,
          type: channel.type,
          connectionId,
          ready: false,
          message: messageOf(error),
          webhookPath: path,
        });
      }
    } catch (error) {
      reasons.push(reasonOf(error, "ChannelFailed"));
      statuses.push({
        name: channel.name,
        type: channel.type,
        ready: false,
        message: messageOf(error),
        ...(row ? { connectionId: row.id, webhookPath: webhookPath(row.type, row.id) } : {}),
      });
    }
  }
  const removals: string[] = [];
  for (const row of rows) {
    if (specs.some((c) => c.name === row.name)) continue;
    try {
      await unregisterRow(row, names, deps);
      await deps.channels.delete(names.tenantId, row.id);
    } catch (error) {
      // The row stays, so the next attempt still has the credentials to remove the registration with.
      reasons.push(reasonOf(error, "ChannelFailed"));
      removals.push(`removing ${row.name}: ${messageOf(error)}`);
    }
  }
  const failing = statuses.filter((s) => !s.ready);
  if (failing.length > 0 || removals.length > 0) {
    // Webhook failures keep their own reason (WebhookRegistrationFailed) when they are the only kind.
    const reason =
      reasons.length > 0 && reasons.every((r) => r === reasons[0]) && reasons[0]?.startsWith("Webhook")
        ? reasons[0]
        : "ChannelFailed";
    const outcome = notReady(reason, [...failing.map((s) => `${s.name}: ${s.message}`), ...removals].join("; "));
    return { ...outcome, channels: statuses };
  }
  return { ...ok("ChannelsReady", `${statuses.length} channel(s) connected`), channels: statuses };
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
