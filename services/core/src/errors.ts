/** Stable error codes; the gateway maps them to HTTP statuses in one table. */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "TENANT_ID_INVALID"
  | "REDIS_KEY_INVALID"
  | "SUBJECT_INVALID"
  | "MESSAGE_INVALID"
  | "SIGNATURE_INVALID"
  | "CREDENTIALS_INVALID"
  | "NOT_FOUND"
  | "CONFLICT"
  | "RATE_LIMITED"
  | "PAYLOAD_TOO_LARGE"
  | "UNAVAILABLE"
  | "PROVISION_FAILED"
  | "LLM_FAILED"
  | "INTERNAL";

/** Base class of every Konstruct error: a stable `code`, a message that says what to do next, a `cause`. */
export class KonstructError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KonstructError";
    this.code = code;
  }
}

/** Configuration from the environment is missing or malformed; `issues` lists every bad field. */
export class ConfigError extends KonstructError {
  readonly issues: readonly string[];

  constructor(issues: readonly string[]) {
    super("CONFIG_INVALID", `invalid configuration (fix these environment variables and restart):\n  - ${issues.join("\n  - ")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** A value that should be a tenant id (a UUID) is not one. Raised before any SQL or Redis call. */
export class TenantIdError extends KonstructError {
  constructor(value: unknown) {
    super("TENANT_ID_INVALID", `tenant id must be a UUID, got ${describe(value)}`);
    this.name = "TenantIdError";
  }
}

/** A Redis key or channel part would escape the `{tenantId}:{type}:{discriminator}` shape. */
export class RedisKeyError extends KonstructError {
  constructor(message: string) {
    super("REDIS_KEY_INVALID", message);
    this.name = "RedisKeyError";
  }
}

/** A NATS subject token is not a single safe token. */
export class SubjectError extends KonstructError {
  constructor(message: string) {
    super("SUBJECT_INVALID", message);
    this.name = "SubjectError";
  }
}

/** A message failed schema validation at a boundary. */
export class MessageValidationError extends KonstructError {
  readonly issues: readonly string[];

  constructor(issues: readonly string[], options?: { cause?: unknown }) {
    super("MESSAGE_INVALID", `invalid message: ${issues.join("; ")}`, options);
    this.name = "MessageValidationError";
    this.issues = issues;
  }
}

/** Stored channel credentials cannot be decrypted or parsed. */
export class CredentialsError extends KonstructError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CREDENTIALS_INVALID", message, options);
    this.name = "CredentialsError";
  }
}

/** Describes an untrusted value for an error message without echoing unbounded input. */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return JSON.stringify(shown);
  }
  return value === null ? "null" : typeof value;
}
