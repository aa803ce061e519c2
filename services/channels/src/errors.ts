import { type ErrorCode, KonstructError } from "@konstruct/core";

/** An HTTP-facing failure of a webhook, carrying one of the stable core error codes. */
export class WebhookError extends KonstructError {
  /** Seconds the sender should wait before trying again, sent as `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(code, message, options);
    this.name = "WebhookError";
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/**
 * The one table from error codes to HTTP statuses, like fastify's `FST_ERR_*` catalog. The
 * body says only what the status says: a webhook caller learns nothing about why a signature
 * failed or whether a connection exists.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<string, { status: number; error: string }>> = {
  SIGNATURE_INVALID: { status: 401, error: "unauthorized" },
  MESSAGE_INVALID: { status: 400, error: "bad_request" },
  PAYLOAD_TOO_LARGE: { status: 413, error: "payload_too_large" },
  UNAVAILABLE: { status: 503, error: "unavailable" },
  NOT_FOUND: { status: 404, error: "not_found" },
  // fastify's own codes, raised before a handler runs.
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: "payload_too_large" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: "bad_request" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: "bad_request" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: "unsupported_media_type" },
};

const INTERNAL = { status: 500, error: "internal" };

/** Maps an error to its HTTP status and a body without detail. */
export function httpStatusOf(error: unknown): { status: number; error: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return (typeof code === "string" && HTTP_STATUS_BY_CODE[code]) || INTERNAL;
}
