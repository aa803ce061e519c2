import { fields, intField, listenFields, parseConfig, urlField } from "@konstruct/core";
import { DEFAULT_PORTAL_PUBLIC_URL } from "@konstruct/operator";
import { Type } from "@sinclair/typebox";

const PortalConfigSchema = Type.Object({
  DATABASE_URL: fields.DATABASE_URL,
  REDIS_URL: fields.REDIS_URL,
  OLLAMA_URL: fields.OLLAMA_URL,
  LOG_LEVEL: fields.LOG_LEVEL,
  ...listenFields("portal"),
  PORTAL_PUBLIC_URL: urlField(
    ["http", "https"],
    "the portal's address as people's browsers reach it, without /portal/ (https://… turns on Secure, __Host- cookies); invitation links and the Origin check derive from it",
    DEFAULT_PORTAL_PUBLIC_URL,
  ),
  GATEWAY_PUBLIC_URL: urlField(
    ["http", "https"],
    "the gateway's public address: the base of the webhook and web chat URLs the channels page shows",
    "http://127.0.0.1:8080",
  ),
  KUBECONFIG: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "kubeconfig of the portal's identity; without it the in-cluster ServiceAccount is used when there is one, else configuration is read-only",
    }),
  ),
  TRUSTED_PROXIES: Type.String({
    default: "loopback",
    minLength: 1,
    description:
      "proxies whose X-Forwarded-For gives the client address (addresses, CIDRs, loopback, uniquelocal), comma-separated",
  }),
  SESSION_IDLE_MINUTES: intField(60, "minutes without a request after which a session ends"),
  SESSION_ABSOLUTE_HOURS: intField(12, "hours after sign-in after which a session ends, however active"),
  SIGNIN_MAX_FAILURES_PER_EMAIL: intField(5, "failed sign-ins for one email within the window before it is locked"),
  SIGNIN_MAX_FAILURES_PER_ADDRESS: intField(20, "failed sign-ins from one client address within the window before it is locked"),
  SIGNIN_LOCKOUT_SECONDS: intField(900, "the failure window, and how long a lockout lasts"),
});

/** The portal's configuration, parsed once by `main.ts`. */
export type PortalConfig = ReturnType<typeof loadConfig>;

/** Parses the portal's environment, listing every bad field at once. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>) {
  return parseConfig(PortalConfigSchema, env);
}
