import { fields, intField, listenFields, parseConfig } from "@konstruct/core";
import { Type } from "@sinclair/typebox";

const GatewayConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  NATS_URL: fields.NATS_URL,
  SLACK_API_URL: fields.SLACK_API_URL,
  SLACK_SIGNING_SECRET: fields.SLACK_SIGNING_SECRET,
  TELEGRAM_API_URL: fields.TELEGRAM_API_URL,
  WHATSAPP_API_URL: fields.WHATSAPP_API_URL,
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
