import { NATS_USERS, type NatsUser } from "@konstruct/core/nats-permissions";
import type { k8s } from "cdk8s-plus-27";
import type { Values } from "./values.ts";

/**
 * The install Secret (`values.secretName`) holds every credential, so dist/ holds none and can
 * be committed or published. It is created before `kubectl apply -f dist/` (scripts/kind.sh
 * shows how). Its keys:
 *
 * | key                        | when                       | what                                              |
 * | -------------------------- | -------------------------- | ------------------------------------------------- |
 * | `konstruct-secret-key`     | always                     | 32 random bytes, base64; encrypts channel secrets |
 * | `slack-signing-secret`     | always                     | signing secret of the platform's shared Slack app |
 * | `slack-client-secret`      | slack.clientId set         | OAuth client secret of the shared Slack app       |
 * | `postgres-admin-password`  | postgres.mode in-cluster   | the `postgres` superuser's password               |
 * | `postgres-app-password`    | postgres.mode in-cluster   | `konstruct_app`'s password (set by migrate)       |
 * | `database-admin-url`       | postgres.mode external     | admin URL (migrations, operator)                  |
 * | `database-url`             | postgres.mode external     | `konstruct_app` URL (services)                    |
 * | `redis-admin-password`     | redis.mode in-cluster      | the `default` user's password (ACL SETUSER)       |
 * | `redis-password`           | redis.mode in-cluster      | the services' `konstruct` user's password         |
 * | `redis-admin-url`          | redis.mode external        | admin URL (operator)                              |
 * | `redis-url`                | redis.mode external        | the services' URL                                 |
 * | `webchat-session-secret`   | optional                   | signs web chat visitor sessions (gateway)         |
 * | `openai-api-key`           | optional                   | bearer token of `openai.baseUrl` (orchestrator)   |
 * | `nats-gateway-password`    | always                     | NATS user `gateway`                               |
 * | `nats-router-password`     | always                     | NATS user `router`                                |
 * | `nats-orchestrator-password` | always                   | NATS user `orchestrator`                          |
 * | `nats-jetstream-password`  | always                     | NATS user `jetstream` (declares the streams)      |
 *
 * The NATS users and their permissions are services/core/src/nats/permissions.ts; with
 * `nats.mode: external` the external server must define the same users and permissions (the
 * `authorization` block an in-cluster install's `konstruct-nats` ConfigMap holds).
 *
 * In-cluster passwords go into URLs through Kubernetes' `$(VAR)` expansion, so they must be
 * URL-safe: `openssl rand -hex 24` is.
 */
export const SECRET_KEYS = {
  secretKey: "konstruct-secret-key",
  slackSigningSecret: "slack-signing-secret",
  slackClientSecret: "slack-client-secret",
  postgresAdminPassword: "postgres-admin-password",
  postgresAppPassword: "postgres-app-password",
  databaseAdminUrl: "database-admin-url",
  databaseUrl: "database-url",
  redisAdminPassword: "redis-admin-password",
  redisPassword: "redis-password",
  redisAdminUrl: "redis-admin-url",
  redisUrl: "redis-url",
  webchatSessionSecret: "webchat-session-secret",
  openaiApiKey: "openai-api-key",
} as const;

/** The install Secret's key holding the password of a NATS user. */
export function natsPasswordKey(user: NatsUser): string {
  return `nats-${user}-password`;
}

/** The environment variable a NATS password is read into (the server's config refers to it as `$NAME`). */
export function natsPasswordVariable(user: NatsUser): string {
  return `NATS_${user.toUpperCase()}_PASSWORD`;
}

/** The Secret keys an install with these values needs. */
export function requiredSecretKeys(values: Values): string[] {
  const keys: string[] = [SECRET_KEYS.secretKey, SECRET_KEYS.slackSigningSecret];
  if (values.slack.clientId !== undefined) keys.push(SECRET_KEYS.slackClientSecret);
  if (values.postgres.mode === "in-cluster") keys.push(SECRET_KEYS.postgresAdminPassword, SECRET_KEYS.postgresAppPassword);
  else keys.push(SECRET_KEYS.databaseAdminUrl, SECRET_KEYS.databaseUrl);
  if (values.redis.mode === "in-cluster") keys.push(SECRET_KEYS.redisAdminPassword, SECRET_KEYS.redisPassword);
  else keys.push(SECRET_KEYS.redisAdminUrl, SECRET_KEYS.redisUrl);
  keys.push(...NATS_USERS.map(natsPasswordKey));
  return keys;
}

/** An env var read from the install Secret. */
export function fromSecret(values: Values, name: string, key: string): k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: values.secretName, key } } };
}

/** An env var read from the install Secret when the key is there, and unset otherwise. */
export function optionalFromSecret(values: Values, name: string, key: string): k8s.EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: values.secretName, key, optional: true } } };
}

/** Connection env vars a component may need, by the names services read (README, Configuration). */
export type ConnectionVar =
  | "DATABASE_URL"
  | "DATABASE_ADMIN_URL"
  | "REDIS_URL"
  | "REDIS_ADMIN_URL"
  | "NATS_URL"
  | "OLLAMA_URL"
  | "SLACK_API_URL"
  | "SLACK_SIGNING_SECRET"
  | "KONSTRUCT_SECRET_KEY"
  | "LOG_LEVEL";

/**
 * The env vars for `wanted`, in an order where every `$(VAR)` refers to a variable defined
 * earlier (Kubernetes expands only those). `NATS_URL` carries the credentials of `natsUser`.
 */
export function connectionEnv(values: Values, wanted: readonly ConnectionVar[], natsUser?: NatsUser): k8s.EnvVar[] {
  const env: k8s.EnvVar[] = [];
  const want = new Set(wanted);
  const pg = `konstruct-postgres.${values.namespace}.svc:5432/${values.postgres.database}`;
  const redis = `konstruct-redis.${values.namespace}.svc:6379`;
  if (want.has("DATABASE_ADMIN_URL")) {
    if (values.postgres.mode === "in-cluster") {
      env.push(fromSecret(values, "POSTGRES_ADMIN_PASSWORD", SECRET_KEYS.postgresAdminPassword));
      env.push({ name: "DATABASE_ADMIN_URL", value: `postgres://postgres:$(POSTGRES_ADMIN_PASSWORD)@${pg}` });
    } else env.push(fromSecret(values, "DATABASE_ADMIN_URL", SECRET_KEYS.databaseAdminUrl));
  }
  if (want.has("DATABASE_URL")) {
    if (values.postgres.mode === "in-cluster") {
      env.push(fromSecret(values, "POSTGRES_APP_PASSWORD", SECRET_KEYS.postgresAppPassword));
      env.push({ name: "DATABASE_URL", value: `postgres://konstruct_app:$(POSTGRES_APP_PASSWORD)@${pg}` });
    } else env.push(fromSecret(values, "DATABASE_URL", SECRET_KEYS.databaseUrl));
  }
  if (want.has("REDIS_ADMIN_URL")) {
    if (values.redis.mode === "in-cluster") {
      env.push(fromSecret(values, "REDIS_ADMIN_PASSWORD", SECRET_KEYS.redisAdminPassword));
      env.push({ name: "REDIS_ADMIN_URL", value: `redis://default:$(REDIS_ADMIN_PASSWORD)@${redis}` });
    } else env.push(fromSecret(values, "REDIS_ADMIN_URL", SECRET_KEYS.redisAdminUrl));
  }
  if (want.has("REDIS_URL")) {
    if (values.redis.mode === "in-cluster") {
      env.push(fromSecret(values, "REDIS_PASSWORD", SECRET_KEYS.redisPassword));
      env.push({ name: "REDIS_URL", value: `redis://konstruct:$(REDIS_PASSWORD)@${redis}` });
    } else env.push(fromSecret(values, "REDIS_URL", SECRET_KEYS.redisUrl));
  }
  if (want.has("NATS_URL")) {
    if (natsUser === undefined)
      throw new Error("NATS_URL needs the NATS user of the component (services/core's permission table)");
    const server = values.nats.mode === "in-cluster" ? `nats://konstruct-nats.${values.namespace}.svc:4222` : values.nats.url!;
    const variable = natsPasswordVariable(natsUser);
    env.push(fromSecret(values, variable, natsPasswordKey(natsUser)));
    // Hex passwords (openssl rand -hex 24) need no escaping in the URL.
    env.push({ name: "NATS_URL", value: server.replace("://", `://${natsUser}:$(${variable})@`) });
  }
  if (want.has("OLLAMA_URL")) {
    const url = values.ollama.enabled ? `http://konstruct-ollama.${values.namespace}.svc:11434` : values.ollama.url;
    env.push({ name: "OLLAMA_URL", value: url });
  }
  if (want.has("SLACK_API_URL")) env.push({ name: "SLACK_API_URL", value: values.slack.apiUrl });
  if (want.has("SLACK_SIGNING_SECRET")) env.push(fromSecret(values, "SLACK_SIGNING_SECRET", SECRET_KEYS.slackSigningSecret));
  if (want.has("KONSTRUCT_SECRET_KEY")) env.push(fromSecret(values, "KONSTRUCT_SECRET_KEY", SECRET_KEYS.secretKey));
  if (want.has("LOG_LEVEL")) env.push({ name: "LOG_LEVEL", value: values.logLevel });
  return env;
}
