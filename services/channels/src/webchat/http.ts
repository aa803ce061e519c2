import type { FastifyReply, FastifyRequest } from "fastify";
import { normalizeOrigin, type WebchatConnection } from "./connections.ts";
import { WebchatError } from "./errors.ts";
import type { SessionFailure, SessionSigner, WebchatSession } from "./session.ts";

/** The session cookie, scoped by path to one connection. */
export const SESSION_COOKIE = "konstruct_webchat";

/** Headers every web chat response carries. */
export function baseSecurityHeaders(reply: FastifyReply): void {
  reply.header("x-content-type-options", "nosniff");
  reply.header("referrer-policy", "no-referrer");
}

/**
 * The page's policy: nothing but its own script, style and API, no inline code, and framing
 * only by the gateway itself and the channel's allowed origins. `frame-ancestors` is what keeps
 * the chat off sites the tenant did not list, whatever the embed script does.
 */
export function pageSecurityHeaders(reply: FastifyReply, connection: WebchatConnection | null): void {
  baseSecurityHeaders(reply);
  const ancestors = ["'self'", ...(connection?.allowedOrigins ?? [])].join(" ");
  reply.header(
    "content-security-policy",
    `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`,
  );
  reply.header("cache-control", "no-store");
}

/** The gateway's own origin as the browser sees it (behind the Ingress: the forwarded one). */
export function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/**
 * Checks the `Origin` of an API call. Same-origin calls (the gateway's page, or its iframe on a
 * tenant's site) always pass; a cross-origin call passes only from the channel's allowed
 * origins and then gets CORS headers. Calls without `Origin` are not from a browser's
 * cross-site context (browsers send it on every cross-origin fetch and every POST), and the
 * session token still has to be valid.
 */
export function checkOrigin(request: FastifyRequest, reply: FastifyReply, connection: WebchatConnection): void {
  const header = request.headers.origin;
  reply.header("vary", "Origin");
  if (header === undefined) return;
  const origin = normalizeOrigin(header);
  if (origin !== null && origin === normalizeOrigin(ownOrigin(request))) return;
  if (origin === null || !connection.allowedOrigins.includes(origin)) {
    throw new WebchatError(
      "origin_not_allowed",
      `Requests from ${origin ?? "this page"} are not allowed for this chat; the tenant can add the origin to the channel's allowedOrigins.`,
    );
  }
  reply.header("access-control-allow-origin", origin);
  reply.header("access-control-expose-headers", "Retry-After");
}

/** Reads one cookie from the request without a cookie library: the only cookie the web chat sets. */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch (cause) {
        // A stray `%` is the client's mistake, not the server's.
        throw new WebchatError("message_invalid", "The chat's cookie is malformed; clear this site's cookies and reload.", {
          cause,
        });
      }
    }
  }
  return undefined;
}

/** The token the request presents: `Authorization: Bearer` (the embed, API clients) or the cookie (the page). */
export function presentedToken(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (auth?.startsWith("Bearer ")) return auth.slice(7).trim();
  return readCookie(request, SESSION_COOKIE);
}

const FAILURE_MESSAGES: Record<SessionFailure, ["session_missing" | "session_invalid" | "session_expired", string]> = {
  missing: ["session_missing", "No chat session: reload the chat page to start one."],
  invalid: ["session_invalid", "This chat session is not valid; reload the chat page to start a new conversation."],
  wrong_connection: [
    "session_invalid",
    "This chat session belongs to another chat; reload the chat page to start a new conversation.",
  ],
  expired: ["session_expired", "Your chat session expired; reload the chat page to start a new conversation."],
};

/** The visitor's session, or a 401 that says why there is none. */
export function authenticate(request: FastifyRequest, sessions: SessionSigner, connectionId: string): WebchatSession {
  const result = sessions.verify(presentedToken(request), connectionId);
  if (result.ok) return result.session;
  const [code, message] = FAILURE_MESSAGES[result.reason];
  throw new WebchatError(code, message);
}

/** `Set-Cookie` for a session: HttpOnly, SameSite=Lax, only under this connection's path, Secure over HTTPS. */
export function sessionCookie(request: FastifyRequest, connectionId: string, token: string, expiresAt: number): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  const secure = request.protocol === "https" ? "; Secure" : "";
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/webchat/${connectionId}/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure}`;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
