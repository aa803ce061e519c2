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
  "KONSTRUCT_SECRET_KEY",
  "SLACK_SIGNING_SECRET",
  "*.DATABASE_URL",
  "*.DATABASE_ADMIN_URL",
  "*.REDIS_URL",
  "*.REDIS_ADMIN_URL",
  "*.KONSTRUCT_SECRET_KEY",
  "*.SLACK_SIGNING_SECRET",
];

export type { Logger };

/** The one root logger of a process; children carry context (`log.child({ tenantId })`). */
export function createLogger(options: { name: string; level?: string; destination?: NodeJS.WritableStream }): Logger {
  const config: LoggerOptions = {
    name: options.name,
    level: options.level ?? "info",
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
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
