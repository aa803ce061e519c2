import { type Static, type TInteger, type TObject, type TString, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { ConfigError } from "./errors.ts";
import { RENAMED_LISTEN_VARIABLES } from "./listen.ts";

/**
 * Typed configuration from the environment. Each service's `config.ts` composes the fields it
 * needs into one schema and calls {@link parseConfig} once, from `main.ts`. Every bad field is
 * reported at once, by name, never with its value (values are often secrets).
 */

/** Field: a URL with one of the given schemes. */
export function urlField(schemes: readonly string[], description: string, defaultValue?: string): TString {
  const pattern = `^(${schemes.join("|")})://[^\\s]+$`;
  return Type.String({ pattern, description, ...(defaultValue === undefined ? {} : { default: defaultValue }) });
}

/** Field: a TCP port. */
export function portField(defaultValue: number, description: string): TInteger {
  return Type.Integer({ minimum: 1, maximum: 65_535, default: defaultValue, description });
}

/** Field: a positive integer with a default. */
export function intField(defaultValue: number, description: string, minimum = 1): TInteger {
  return Type.Integer({ minimum, default: defaultValue, description });
}

export const LogLevel = Type.Union(
  ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
  { default: "info", description: "pino log level" },
);

/** The configuration contract's fields (README, Configuration); services pick the ones they use. */
export const fields = {
  DATABASE_URL: urlField(["postgres", "postgresql"], "PostgreSQL URL of the konstruct_app role"),
  DATABASE_ADMIN_URL: urlField(["postgres", "postgresql"], "PostgreSQL URL of the admin role (migrations)"),
  DATABASE_OPERATOR_URL: urlField(["postgres", "postgresql"], "PostgreSQL URL of the konstruct_operator role (operator)"),
  REDIS_URL: urlField(["redis", "rediss"], "Redis URL of the services' user"),
  REDIS_ADMIN_URL: urlField(["redis", "rediss"], "Redis URL of an admin user that may run ACL SETUSER (operator)"),
  NATS_URL: Type.String({
    pattern: "^(nats|tls|wss?)://[^\\s]+(,(nats|tls|wss?)://[^\\s]+)*$",
    description: "NATS server URLs, comma-separated",
  }),
  OLLAMA_URL: urlField(["http", "https"], "Ollama HTTP API base URL", "http://127.0.0.1:11434"),
  SLACK_API_URL: urlField(["http", "https"], "Slack Web API base URL (ends with /api/)", "https://slack.com/api/"),
  SLACK_SIGNING_SECRET: Type.String({ minLength: 8, description: "signing secret of the platform's shared Slack app" }),
  KONSTRUCT_SECRET_KEY: Type.String({
    pattern: "^[A-Za-z0-9+/]{43}=$",
    description: "32 random bytes, base64 (openssl rand -base64 32); encrypts channel credentials at rest",
  }),
  LOG_LEVEL: LogLevel,
} as const;

/** Parses `env` against `schema`: converts strings, applies defaults, lists every bad field, freezes. */
export function parseConfig<T extends TObject>(
  schema: T,
  env: Readonly<Record<string, string | undefined>>,
): Readonly<Static<T>> {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== "") raw[key] = value;
  }
  const value = Value.Default(schema, Value.Convert(schema, raw)) as Record<string, unknown>;
  const issues = new Map<string, string>();
  for (const error of Value.Errors(schema, value)) {
    const key = error.path.split("/")[1] || "(root)";
    if (!issues.has(key)) issues.set(key, value[key] === undefined ? "is required" : describeProblem(schema, key, error.message));
  }
  // A variable that was renamed would otherwise be ignored without a word, and the component
  // would listen where nobody looks.
  for (const [old, current] of Object.entries(RENAMED_LISTEN_VARIABLES)) {
    if (env[old] !== undefined && current in schema.properties)
      issues.set(old, `was renamed to ${current}; set ${current} instead`);
  }
  if (issues.size > 0) throw new ConfigError([...issues].map(([key, problem]) => `${key} ${problem}`));
  return Object.freeze(value) as Readonly<Static<T>>;
}

function describeProblem(schema: TObject, key: string, message: string): string {
  const description = (schema.properties[key] as { description?: string } | undefined)?.description;
  // TypeBox messages quote patterns, not values, so they never leak a secret.
  return description ? `is invalid (${message}); expected ${description}` : `is invalid (${message})`;
}
