import { hostname } from "node:os";
import { CHANNELS } from "@konstruct/channels";
import { fields, intField, LogLevel, parseConfig, urlField } from "@konstruct/core/config";
import { listenFields } from "@konstruct/core/listen";
import { type Static, Type } from "@sinclair/typebox";
import { DEFAULT_INSTALL_NAMESPACE } from "./api/namespaces.ts";
import { DEFAULT_PORTAL_PUBLIC_URL, DEFAULT_PORTAL_SERVICE_ACCOUNT } from "./api/portal.ts";

const Schema = Type.Object({
  DATABASE_OPERATOR_URL: fields.DATABASE_OPERATOR_URL,
  REDIS_ADMIN_URL: fields.REDIS_ADMIN_URL,
  KONSTRUCT_SECRET_KEY: fields.KONSTRUCT_SECRET_KEY,
  KUBECONFIG: Type.Optional(Type.String({ description: "kubeconfig path; unset means in-cluster, else ~/.kube/config" })),
  TENANT_DATABASE_HOST: Type.Optional(
    Type.String({ description: "PostgreSQL host written into tenant Secrets (default: DATABASE_OPERATOR_URL's)" }),
  ),
  TENANT_DATABASE_PORT: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 65535, description: "PostgreSQL port for tenant Secrets" }),
  ),
  TENANT_DATABASE_NAME: Type.Optional(
    Type.String({ description: "Database name for tenant Secrets (default: DATABASE_OPERATOR_URL's)" }),
  ),
  TENANT_REDIS_HOST: Type.Optional(
    Type.String({ description: "Redis host written into tenant Secrets (default: REDIS_ADMIN_URL's)" }),
  ),
  TENANT_REDIS_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "Redis port for tenant Secrets" })),
  PUBLIC_BASE_URL: Type.Optional(
    urlField(
      ["https", "http"],
      "where the gateway is reachable publicly (https://konstruct.example.com): the operator registers channels' webhooks " +
        "there (Telegram's setWebhook); unset, it registers none",
    ),
  ),
  // Each channel that registers with its service names the variable overriding the service's URL.
  ...channelApiFields(),
  ...listenFields("operator"),
  RESYNC_INTERVAL_SECONDS: intField(300, "how often every Tenant and Agent is re-checked for drift"),
  HISTORY_PURGE_INTERVAL_SECONDS: intField(
    3600,
    "how often the leader deletes conversation history past each tenant's retention (also once on taking the lead)",
  ),
  WATCH_WATCHDOG_SECONDS: intField(300, "a watch silent for this long is restarted"),
  RECONCILE_CONCURRENCY: intField(8, "reconciles in flight at once per controller"),
  LEADER_ELECTION: Type.Boolean({ default: true, description: "campaign for the leader Lease (false: single replica)" }),
  LEASE_NAMESPACE: Type.String({ default: DEFAULT_INSTALL_NAMESPACE, description: "namespace of the leader Lease" }),
  INSTALL_NAMESPACE: Type.String({
    default: DEFAULT_INSTALL_NAMESPACE,
    description: "namespace the operator is installed in; no Tenant may use it as its namespace",
  }),
  PORTAL_PUBLIC_URL: Type.String({
    default: DEFAULT_PORTAL_PUBLIC_URL,
    pattern: "^https?://[^/?#\\s]+(/[^?#\\s]*)?$",
    description:
      "where people reach the portal: first owners' invitation links are <PORTAL_PUBLIC_URL>/portal/invitations/<token>",
  }),
  PORTAL_SERVICE_ACCOUNT: Type.String({
    default: DEFAULT_PORTAL_SERVICE_ACCOUNT,
    pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
    description: "the portal's ServiceAccount in INSTALL_NAMESPACE: the only one allowed to impersonate the portal identities",
  }),
  LEASE_NAME: Type.String({ default: "konstruct-operator", description: "name of the leader Lease" }),
  LEASE_DURATION_SECONDS: intField(15, "leader Lease duration; a standby takes over this long after the leader stops renewing"),
  POD_NAME: Type.String({ default: `${hostname()}-${process.pid}`, description: "this replica's identity in the Lease" }),
  LOG_LEVEL: LogLevel,
});

function channelApiFields() {
  return Object.fromEntries(
    CHANNELS.flatMap((c) =>
      "api" in c && c.api ? [[c.api.variable, urlField(["http", "https"], `${c.type} API base URL`, c.api.defaultUrl)]] : [],
    ),
  ) as Record<string, ReturnType<typeof urlField>>;
}

/** API base URLs by channel type, from the variables the channels name. */
export function channelApiUrls(config: OperatorConfig): Record<string, string> {
  const values = config as unknown as Record<string, string | undefined>;
  return Object.fromEntries(
    CHANNELS.flatMap((c) => ("api" in c && c.api && values[c.api.variable] ? [[c.type, values[c.api.variable] as string]] : [])),
  );
}

export type OperatorConfig = Readonly<Static<typeof Schema>>;

/** Parses the operator's configuration once, listing every bad variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): OperatorConfig {
  return parseConfig(Schema, env);
}
