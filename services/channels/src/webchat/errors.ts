import { httpStatusOf } from "../errors.ts";

/** Stable codes of the web chat API; the page shows the message, scripts branch on the code. */
export type WebchatErrorCode =
  | "session_missing"
  | "session_invalid"
  | "session_expired"
  | "origin_not_allowed"
  | "not_found"
  | "message_invalid"
  | "message_too_long"
  | "payload_too_large"
  | "unsupported_media_type"
  | "rate_limited"
  | "unavailable"
  | "internal";

/**
 * The web chat's table from codes to HTTP statuses. It sits beside the gateway's webhook table
 * rather than in it because the two audiences differ: a webhook caller is told nothing beyond
 * the status, while a person in a browser needs to read what went wrong and what to do next.
 */
export const WEBCHAT_STATUS_BY_CODE: Readonly<Record<WebchatErrorCode, number>> = {
  session_missing: 401,
  session_invalid: 401,
  session_expired: 401,
  origin_not_allowed: 403,
  not_found: 404,
  message_invalid: 400,
  message_too_long: 413,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** A web chat request failed in a way the visitor can be told about. */
export class WebchatError extends Error {
  readonly code: WebchatErrorCode;
  readonly status: number;
  /** For `rate_limited` and `unavailable`: seconds until the visitor may send again. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: WebchatErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = "WebchatError";
    this.code = code;
    this.status = WEBCHAT_STATUS_BY_CODE[code];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

const BY_GATEWAY_ERROR: Readonly<Record<string, [WebchatErrorCode, string]>> = {
  payload_too_large: ["payload_too_large", "The request is too large; messages can be at most a few thousand characters."],
  unsupported_media_type: ["unsupported_media_type", "Send the message as JSON (Content-Type: application/json)."],
  bad_request: ["message_invalid", "The request body is not valid JSON."],
  unavailable: ["unavailable", "The chat is unavailable right now; try again in a moment."],
  not_found: ["not_found", "There is no web chat at this address; check the link."],
};

/** Turns any error raised in a web chat route (ours, fastify's, core's) into a WebchatError. */
export function toWebchatError(error: unknown): WebchatError {
  if (error instanceof WebchatError) return error;
  const { error: gatewayCode } = httpStatusOf(error);
  const known = BY_GATEWAY_ERROR[gatewayCode];
  const retryAfter = (error as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  if (known) {
    return new WebchatError(known[0], known[1], {
      cause: error,
      ...(typeof retryAfter === "number" ? { retryAfterSeconds: retryAfter } : {}),
    });
  }
  return new WebchatError("internal", "Something went wrong on our side; try again in a moment.", { cause: error });
}
