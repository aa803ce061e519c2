/** Stable codes of the portal's refusals; one table maps them to HTTP statuses. */
export type PortalErrorCode =
  | "unauthenticated"
  | "csrf"
  | "cross_site"
  | "forbidden"
  | "not_found"
  | "invalid"
  | "conflict"
  | "throttled"
  | "read_only"
  | "upstream";

export const STATUS_BY_CODE: Readonly<Record<PortalErrorCode, number>> = Object.freeze({
  unauthenticated: 401,
  csrf: 403,
  cross_site: 403,
  forbidden: 403,
  not_found: 404,
  invalid: 400,
  conflict: 409,
  throttled: 429,
  read_only: 409,
  upstream: 502,
});

/** A refusal the person can act on: `message` says what happened and what to do. */
export class PortalError extends Error {
  readonly code: PortalErrorCode;
  readonly status: number;
  /** Seconds to wait, for `throttled`. */
  readonly retryAfter: number | undefined;
  /** Field-by-field problems, for `invalid`. */
  readonly fields: Readonly<Record<string, string>> | undefined;

  constructor(
    code: PortalErrorCode,
    message: string,
    options: { cause?: unknown; retryAfter?: number; fields?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "PortalError";
    this.code = code;
    this.status = STATUS_BY_CODE[code];
    this.retryAfter = options.retryAfter;
    this.fields = options.fields;
  }
}

/** Not found — also what a person gets for anything of another tenant, so ids of others reveal nothing. */
export const notFound = (what = "This page") =>
  new PortalError("not_found", `${what} does not exist, or it is not yours to see.`);
