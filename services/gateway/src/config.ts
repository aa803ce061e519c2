import {
  BOT_FRAMEWORK_ISSUER,
  BOT_FRAMEWORK_OPENID_METADATA_URL,
  DEFAULT_SLACK_BOT_SCOPES,
  DEFAULT_TEAMS_SERVICE_URLS,
  DEFAULT_TELEGRAM_API_URL,
  DEFAULT_WHATSAPP_API_URL,
  MICROSOFT_LOGIN_URL,
  SLACK_AUTHORIZE_URL,
  type TeamsSettings,
} from "@konstruct/channels/gateway";
import { ConfigError, fields, intField, listenFields, parseConfig, urlField } from "@konstruct/core";
import { Type } from "@sinclair/typebox";

const GatewayConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  SLACK_API_URL: fields.SLACK_API_URL,
  SLACK_SIGNING_SECRET: fields.SLACK_SIGNING_SECRET,
  TELEGRAM_API_URL: urlField(["http", "https"], "Telegram Bot API base URL (without /bot<token>/)", DEFAULT_TELEGRAM_API_URL),
  SLACK_CLIENT_ID: Type.Optional(
    Type.String({ minLength: 1, description: 'client id of the platform\'s shared Slack app, for "Add to Slack" installs' }),
  ),
  SLACK_CLIENT_SECRET: Type.Optional(
    Type.String({ minLength: 8, description: "client secret of the platform's shared Slack app" }),
  ),
  SLACK_OAUTH_REDIRECT_URL: Type.Optional(
    urlField(
      ["http", "https"],
      "public URL of the gateway's /webhooks/slack/oauth/callback, as registered in the Slack app's Redirect URLs",
    ),
  ),
  SLACK_OAUTH_AUTHORIZE_URL: urlField(["http", "https"], "Slack's OAuth v2 consent page", SLACK_AUTHORIZE_URL),
  SLACK_OAUTH_SCOPES: Type.String({
    default: DEFAULT_SLACK_BOT_SCOPES.join(","),
    pattern: "^[a-z:._-]+(,[a-z:._-]+)*$",
    description: "bot scopes the shared app asks for when installed, comma-separated",
  }),
  TEAMS_OPENID_METADATA_URL: urlField(
    ["http", "https"],
    "Bot Framework OpenID metadata (its jwks_uri lists the keys that sign Teams activities)",
    BOT_FRAMEWORK_OPENID_METADATA_URL,
  ),
  TEAMS_TOKEN_ISSUER: Type.String({
    default: BOT_FRAMEWORK_ISSUER,
    minLength: 1,
    description: "the issuer every Teams activity token must name",
  }),
  TEAMS_LOGIN_URL: urlField(
    ["http", "https"],
    "Microsoft Entra login host for the Teams bots' client-credentials tokens (without the tenant)",
    MICROSOFT_LOGIN_URL,
  ),
  TEAMS_SERVICE_URLS: Type.String({
    default: DEFAULT_TEAMS_SERVICE_URLS.join(","),
    minLength: 1,
    description:
      "origins Teams replies may be posted to (a verified activity's serviceUrl), comma-separated; https://*.host allowed",
  }),
  WHATSAPP_API_URL: urlField(
    ["http", "https"],
    "WhatsApp Cloud API (Graph API) base URL with its version, before /<phone number id>/messages",
    DEFAULT_WHATSAPP_API_URL,
  ),
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
  const config = parseConfig(GatewayConfigSchema, env);
  const oauth = [config.SLACK_CLIENT_ID, config.SLACK_CLIENT_SECRET, config.SLACK_OAUTH_REDIRECT_URL];
  if (oauth.some((v) => v !== undefined) && oauth.some((v) => v === undefined)) {
    throw new ConfigError([
      'SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_OAUTH_REDIRECT_URL go together ("Add to Slack" needs all three): set the missing ones or none',
    ]);
  }
  return config;
}

/** The shared Slack app's OAuth settings, when configured. */
export function slackOAuthSettings(config: GatewayConfig) {
  if (!config.SLACK_CLIENT_ID || !config.SLACK_CLIENT_SECRET || !config.SLACK_OAUTH_REDIRECT_URL) return undefined;
  return {
    clientId: config.SLACK_CLIENT_ID,
    clientSecret: config.SLACK_CLIENT_SECRET,
    redirectUrl: config.SLACK_OAUTH_REDIRECT_URL,
    authorizeUrl: config.SLACK_OAUTH_AUTHORIZE_URL,
    scopes: config.SLACK_OAUTH_SCOPES.split(","),
  };
}

/** Where the Teams channel verifies tokens, gets its own and may send replies. */
export function teamsSettings(config: GatewayConfig): TeamsSettings {
  return {
    openIdMetadataUrl: config.TEAMS_OPENID_METADATA_URL,
    issuer: config.TEAMS_TOKEN_ISSUER,
    loginUrl: config.TEAMS_LOGIN_URL,
    serviceUrls: config.TEAMS_SERVICE_URLS.split(",").map((entry) => entry.trim()),
  };
}
