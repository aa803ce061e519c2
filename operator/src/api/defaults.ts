/**
 * What a Tenant's limits and an Agent's settings are when the spec leaves them out. The CRD
 * schema's `default`s derive from these, and so do the controllers' fallbacks; the
 * migrations' column defaults are frozen in time, so test/db/column-defaults.test.ts reads
 * them from pg_catalog and holds them equal to these (change one here, and that test asks for
 * a migration that alters the column default).
 */
export const TENANT_LIMIT_DEFAULTS = Object.freeze({
  messagesPerMinute: 60,
  maxConcurrentRuns: 4,
  tokensPerDay: 1_000_000,
});

/**
 * How many days of conversation history a tenant keeps (`spec.history.retentionDays`) when the
 * spec leaves it out, and the bounds the CRD and the `tenants.history_retention_days` check
 * constraint both enforce.
 */
export const HISTORY_RETENTION_DAYS = Object.freeze({ default: 90, minimum: 1, maximum: 3650 });

export const AGENT_DEFAULTS = Object.freeze({
  temperature: 0.7,
  maxHistoryMessages: 20,
  /** Whether the agent answers when no agent is addressed. */
  default: false,
});
