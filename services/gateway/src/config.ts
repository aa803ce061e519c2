import { fields, intField, listenFields, parseConfig, urlField } from "@konstruct/core";
import { Type } from "@sinclair/typebox";

const GatewayConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  SLACK_API_URL: fields.SLACK_API_URL,
  SLACK_SIGNING_SECRET: fields.SLACK_SIGNING_SECRET,
  TELEGRAM_API_URL: fields.TELEGRAM_API_URL,
  TEAMS_OPENID_METADATA_URL: urlField(
    ["http", "https"],
    "Bot Framework OpenID metadata (its jwks_uri lists the keys that sign Teams activities)",
    "https://login.botframework.com/v1/.well-known/openidconfiguration",
  ),
  TEAMS_TOKEN_ISSUER: Type.String({
    default: "https://api.botframework.com",
    minLength: 1,
    description: "the issuer every Teams activity token must name",
  }),
  TEAMS_LOGIN_URL: urlField(
    ["http", "https"],
    "Microsoft Entra login host for the Teams bots' client-credentials tokens (without the tenant)",
    "https://login.microsoftonline.com",
  ),
  TEAMS_SERVICE_URLS: Type.String({
    default:
      "https://smba.trafficmanager.net,https://smba.infra.gcc.teams.microsoft.com,https://smba.infra.gov.teams.microsoft.us,https://smba.infra.dod.teams.microsoft.us",
    minLength: 1,
    description:
      "origins Teams replies may be posted to (a verified activity's serviceUrl), comma-separated; https://*.host allowed",
  }),
  KONSTRUCT_SECRET_KEY: fields.KONSTRUCT_SECRET_KEY,
  LOG_LEVEL: fields.LOG_LEVEL,
  ...listenFields("gateway"),
  TRUSTED_PROXIES: Type.String({
    default: "loopback",
    minLength: 1,
    description:
      "proxies whose X-Forwarded-For gives the client address (addresses, CIDRs, loopback, uniquelocal), comma-separated",
  }),
  OUTBOUND_CONCURRENCY: intField(16, "replies each channel's outbound worker posts at once"),
  WEBCHAT_SESSION_SECRET: Type.Optional(
    Type.String({ minLength: 32, description: "signs web chat visitor sessions; derived from KONSTRUCT_SECRET_KEY when unset" }),
  ),
  WEBCHAT_SESSION_PREVIOUS_SECRET: Type.Optional(
    Type.String({
      minLength: 32,
      description: "the session secret before a rotation: still verifies the tokens it signed until they expire",
    }),
  ),
});

/** The gateway's configuration, parsed once by `main.ts`. */
export type GatewayConfig = ReturnType<typeof loadConfig>;

/** Parses the gateway's environment, listing every bad field at once. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseConfig(GatewayConfigSchema, env);
}
