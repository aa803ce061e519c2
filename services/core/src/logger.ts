import { type Logger, type LoggerOptions, pino } from "pino";

/**
 * Paths pino censors wherever they appear in a log object. Secrets must never reach logs:
 * tokens, passwords, signing secrets, Slack signatures, cookies, connection URLs.
 */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "token",
  "*.token",
  "botToken",
  "*.botToken",
  "signingSecret",
  "*.signingSecret",
  "secret",
  "*.secret",
  "credentials",
  "*.credentials",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "headers.cookie",
  'headers["x-slack-signature"]',
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-slack-signature"]',
  "DATABASE_URL",
  "DATABASE_ADMIN_URL",
  "REDIS_URL",
  "REDIS_ADMIN_URL",
  "NATS_URL",
  "KONSTRUCT_SECRET_KEY",
  "SLACK_SIGNING_SECRET",
  "*.DATABASE_URL",
  "*.DATABASE_ADMIN_URL",
  "*.REDIS_URL",
  "*.REDIS_ADMIN_URL",
  "*.NATS_URL",
  "*.KONSTRUCT_SECRET_KEY",
  "*.SLACK_SIGNING_SECRET",
  // One level deeper, where a child logger's bindings or a nested config put them.
  "*.*.password",
  "*.*.token",
  "*.*.botToken",
  "*.*.signingSecret",
  "*.*.secret",
  "*.*.credentials",
  "*.*.authorization",
];

// user:password@ in any URL-looking string (postgres://, redis://, nats://, https://).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/gi;

/** A string with the passwords of the connection URLs in it replaced by `***`. */
export function scrubUrls(text: string): string {
  return text.replace(URL_CREDENTIALS, "$1$2:***@");
}

/**
 * Errors as pino writes them, minus what can carry a secret: ioredis attaches the failed
 * command's arguments (an `AUTH` failure's password, a `SET` of a token) and drivers echo
 * connection URLs in messages. The command keeps its name; arguments never reach a log.
 */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  const command = serialized.command as { name?: unknown } | undefined;
  if (command && typeof command === "object") serialized.command = { name: command.name };
  for (const key of ["args", "previousErrors", "lastNodeError", "options", "config"]) delete serialized[key];
  for (const key of ["message", "stack"]) {
    if (typeof serialized[key] === "string") serialized[key] = scrubUrls(serialized[key] as string);
  }
  return serialized;
}

export type { Logger };

/** The one root logger of a process; children carry context (`log.child({ tenantId })`). */
export function createLogger(options: { name: string; level?: string; destination?: NodeJS.WritableStream }): Logger {
  const config: LoggerOptions = {
    name: options.name,
    level: options.level ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    serializers: { err: serializeError, error: serializeError },
    base: { component: options.name },
  };
  return options.destination ? pino(config, options.destination as never) : pino(config);
}

/** Hides the password of a connection URL for printing (`redis://u:***@host`). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "[unparseable url]";
  }
}
