import { timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { PortalError } from "../errors.ts";

/** The header the JSON API carries the session's CSRF token in. */
export const CSRF_HEADER = "x-csrf-token";
/** The hidden field forms carry it in. */
export const CSRF_FIELD = "_csrf";

/**
 * Refuses a state change a browser sent from another site, before anything else is looked at:
 * `Sec-Fetch-Site` (every current browser sends it) must be `same-origin` or `none` (typed, a
 * bookmark), and `Origin`, when present, must be the portal's own. A client that sends
 * neither (curl, a script) is not a browser being abused and goes on to the token check.
 */
export function refuseCrossSite(request: FastifyRequest, ownOrigin: string): void {
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    throw new PortalError("cross_site", "This request came from another site and was refused. Use the portal's own pages.");
  }
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== ownOrigin) {
    throw new PortalError("cross_site", "This request came from another site and was refused. Use the portal's own pages.");
  }
}

/** The CSRF token a request carries: the header for the API, the hidden field for forms. */
export function presentedCsrfToken(request: FastifyRequest): string | undefined {
  const header = request.headers[CSRF_HEADER];
  if (typeof header === "string") return header;
  const body = request.body as Record<string, unknown> | undefined;
  const field = body && typeof body === "object" ? body[CSRF_FIELD] : undefined;
  return typeof field === "string" ? field : undefined;
}

/** Throws unless `presented` equals `expected` (compared in constant time). */
export function checkCsrfToken(presented: string | undefined, expected: string | undefined): void {
  const ok =
    presented !== undefined &&
    expected !== undefined &&
    expected.length > 0 &&
    presented.length === expected.length &&
    timingSafeEqual(Buffer.from(presented), Buffer.from(expected));
  if (!ok) {
    throw new PortalError(
      "csrf",
      "This form or request is missing its security token, or it is stale. Reload the page and try again.",
    );
  }
}
