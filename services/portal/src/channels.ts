import { connectionPathOf, webchatChannel } from "@konstruct/channels";
import { withTenant } from "@konstruct/core";
import { API_VERSION, PORTAL_FIELD_MANAGER } from "@konstruct/operator";
import { fromKube, type PortalContext, requireWriter, writableCluster } from "./context.ts";
import { notFound, PortalError } from "./errors.ts";
import { KONSTRUCT_API } from "./kube.ts";

/** A channel as the channels page shows it. */
export interface ChannelView {
  name: string;
  type: string;
  /** True/False as the operator reported; null when unknown (read-only mode). */
  ready: boolean | null;
  /** The last problem the operator reported for this channel, if any. */
  lastError: string | null;
  /** Where the channel's service sends events (webhooks), or the chat page (web chat). */
  url: string | null;
  /** For web chats: HTML to put on a site to embed the chat. */
  embedSnippet: string | null;
  allowedOrigins: string[];
  /** When the platform last accepted an inbound event of this channel (recorded every few seconds at most). */
  lastEventAt: Date | null;
  /** The last error a reply's delivery met on this channel (e.g. Slack's `invalid_auth`), and when. */
  lastDeliveryError: { message: string; at: Date } | null;
}

interface TenantResource {
  spec: { channels?: { name: string; type: string; allowedOrigins?: string[] }[] };
  status?: {
    conditions?: { type: string; status: string; message?: string }[];
    channels?: { name: string; type: string; ready: boolean; message?: string; webhookPath?: string; connectionId?: string }[];
  };
}

const ORIGIN = new RegExp(webchatChannel.specFields.allowedOrigins.items.pattern as string);

const errorOf = (a: { last_error: string | null; last_error_at: Date | null } | undefined) =>
  a?.last_error != null && a.last_error_at != null ? { message: a.last_error, at: a.last_error_at } : null;

const tenantPath = (name: string) => `${KONSTRUCT_API}/tenants/${encodeURIComponent(name)}`;

/** The tenant's channels with their state; `gatewayUrl` is the gateway's public base. */
export async function listChannels(ctx: PortalContext, gatewayUrl: string): Promise<ChannelView[]> {
  const base = gatewayUrl.replace(/\/$/, "");
  // What the router and the gateway's reply protocol recorded (migration 0017), by connection name.
  const activity = await withTenant(ctx.db, ctx.session.tenantId, (trx) =>
    trx
      .selectFrom("channel_activity as a")
      .innerJoin("channel_connections as c", "c.id", "a.connection_id")
      .select(["c.name", "a.last_event_at", "a.last_error", "a.last_error_at"])
      .execute(),
  );
  const activityOf = (name: string) => activity.find((a) => a.name === name);
  const make = (
    name: string,
    type: string,
    ready: boolean | null,
    lastError: string | null,
    path: string | undefined,
    allowedOrigins: string[],
  ): ChannelView => {
    const url = path === undefined ? null : `${base}${path}`;
    return {
      name,
      type,
      ready,
      lastError,
      url,
      embedSnippet:
        type === webchatChannel.type && url !== null
          ? `<iframe src="${url}" title="Chat with us" style="width:400px;height:600px;border:0"></iframe>`
          : null,
      allowedOrigins,
      lastEventAt: activityOf(name)?.last_event_at ?? null,
      lastDeliveryError: errorOf(activityOf(name)),
    };
  };
  if (ctx.kube.mode === "cluster") {
    const tenant = await readTenant(ctx);
    return (tenant.spec.channels ?? []).map((spec) => {
      const status = tenant.status?.channels?.find((c) => c.name === spec.name);
      return make(
        spec.name,
        spec.type,
        status === undefined ? null : status.ready,
        status?.message ?? null,
        status?.webhookPath,
        spec.allowedOrigins ?? [],
      );
    });
  }
  const rows = await withTenant(ctx.db, ctx.session.tenantId, (trx) =>
    trx.selectFrom("channel_connections").select(["id", "name", "channel_type", "settings"]).orderBy("name").execute(),
  );
  return rows.map((row) => {
    const origins = Array.isArray(row.settings?.allowedOrigins) ? (row.settings.allowedOrigins as string[]) : [];
    return make(row.name, row.channel_type, null, null, connectionPathOf(row.channel_type, row.id), origins);
  });
}

/** The person's own Tenant, read as their impersonated role (cluster mode only). */
async function readTenant(ctx: PortalContext): Promise<TenantResource> {
  const { client, user } = writableCluster(ctx);
  return client
    .request<TenantResource>(user, "GET", tenantPath(ctx.session.tenantName))
    .catch((e) => fromKube(e, "Your organisation's channels"));
}

/** Parses allowed origins (one per line, or a JSON list); lists the ones that are not origins. */
export function parseOrigins(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[\s,]+/) : [];
  const origins = [
    ...new Set(items.filter((v): v is string => typeof v === "string").map((s) => s.trim().replace(/\/$/, ""))),
  ].filter((s) => s.length > 0);
  const bad = origins.filter((o) => !ORIGIN.test(o));
  if (bad.length > 0 || origins.length > 64) {
    throw new PortalError("invalid", "Check the highlighted fields.", {
      fields: {
        allowedOrigins:
          bad.length > 0
            ? `${bad.join(", ")} ${bad.length === 1 ? "is not an origin" : "are not origins"}: write a scheme, host and optional port, such as https://example.com.`
            : "At most 64 origins.",
      },
    });
  }
  return origins;
}

/**
 * Sets a web chat's allowed origins: a server-side apply of only that field of the Tenant, as
 * the person's impersonated role (the operator's RBAC and admission let portal owners and
 * admins change exactly this).
 */
export async function setAllowedOrigins(ctx: PortalContext, channelName: string, origins: string[]): Promise<void> {
  requireWriter(ctx.session);
  const { client, user } = writableCluster(ctx);
  // The Tenant alone says whether the channel exists and is a web chat; the channel list would
  // also read each channel's activity.
  const channel = (await readTenant(ctx)).spec.channels?.find((c) => c.name === channelName);
  if (channel === undefined) throw notFound("This channel");
  if (channel.type !== webchatChannel.type) throw new PortalError("invalid", "Allowed origins apply only to web chat channels.");
  await client
    .request(user, "PATCH", tenantPath(ctx.session.tenantName), {
      body: {
        apiVersion: API_VERSION,
        kind: "Tenant",
        metadata: { name: ctx.session.tenantName },
        spec: { channels: [{ name: channelName, allowedOrigins: origins }] },
      },
      patch: "apply",
      query: { fieldManager: PORTAL_FIELD_MANAGER, force: "true" },
    })
    .catch((e) => fromKube(e, "This channel"));
}
