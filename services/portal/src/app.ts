import { randomBytes } from "node:crypto";
import fastifyCookie from "@fastify/cookie";
import fastifyFormbody from "@fastify/formbody";
import type { Database } from "@konstruct/core";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Logger } from "pino";
import { checkCsrfToken, presentedCsrfToken, refuseCrossSite } from "./auth/csrf.ts";
import { resolveSession, type Session, type SessionLifetime } from "./auth/sessions.ts";
import type { SignInThrottle } from "./auth/throttle.ts";
import type { PortalContext } from "./context.ts";
import { PortalError } from "./errors.ts";
import type { KubeAccess } from "./kube.ts";
import type { PortalMetrics } from "./metrics.ts";
import type { ModelCatalog } from "./models.ts";
import { page } from "./pages/layout.ts";
import { PORTAL_CSS } from "./pages/portal.css.ts";
import { errorView } from "./pages/views.ts";
import { apiRoutes } from "./routes/api.ts";
import { pageRoutes } from "./routes/pages.ts";

/** What the portal's HTTP app is built from. */
export interface PortalDeps {
  db: Kysely<Database>;
  throttle: SignInThrottle;
  kube: KubeAccess;
  models: ModelCatalog;
  metrics: PortalMetrics;
  log: Logger;
  /** The portal's public base URL (scheme, host, port): the Origin state changes must come from. */
  publicUrl: string;
  /** The gateway's public base URL, for webhook and web chat addresses. */
  gatewayUrl: string;
  lifetime: SessionLifetime;
  trustedProxies?: string;
  /** Extra readiness checks (Redis); the database is always checked. */
  readiness?: readonly { name: string; check(): Promise<void> }[];
}

/** Names and flags of the portal's cookies, from whether people reach it over TLS. */
export interface CookiePolicy {
  session: string;
  presession: string;
  secure: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    portalSession: Session | null;
  }
}

/** Everything route modules share. */
export interface RouteDeps extends PortalDeps {
  cookies: CookiePolicy;
  ownOrigin: string;
}

/**
 * Cookies: `__Host-` prefixed and Secure behind TLS (bound to this host and path `/`, never
 * set by a sibling subdomain), HttpOnly, SameSite=Lax. Lax rather than Strict: people arrive
 * from links in chat and mail, and Strict would show them signed out on that first page;
 * every state change is a POST that needs the session's CSRF token and a same-origin
 * Origin/Sec-Fetch-Site anyway, and Lax already withholds the cookie from cross-site POSTs,
 * frames and subresources.
 */
export function cookiePolicy(publicUrl: string): CookiePolicy {
  const secure = new URL(publicUrl).protocol === "https:";
  const prefix = secure ? "__Host-" : "";
  return { session: `${prefix}konstruct-portal`, presession: `${prefix}konstruct-portal-presession`, secure };
}

/** The Content-Security-Policy of every response: nothing but the portal's own stylesheet, no script at all. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const isApi = (request: FastifyRequest) => request.url.startsWith("/portal/api/");

/** Builds the portal's fastify app: pages, JSON API, health, readiness and metrics. Does not listen. */
export async function buildApp(deps: PortalDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustedProxies ?? "loopback",
    bodyLimit: 256 * 1024,
    requestTimeout: 30_000,
  });
  const cookies = cookiePolicy(deps.publicUrl);
  const routeDeps: RouteDeps = { ...deps, cookies, ownOrigin: new URL(deps.publicUrl).origin };
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  app.decorateRequest("portalSession", null);

  app.addHook("onRequest", async (request, reply) => {
    reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
    reply.header("x-content-type-options", "nosniff");
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on form posts,
    // which the cross-site check must refuse; other sites still get no referrer.
    reply.header("referrer-policy", "same-origin");
    reply.header("x-frame-options", "DENY");
    reply.header("cross-origin-opener-policy", "same-origin");
    reply.header("cross-origin-resource-policy", "same-origin");
    if (request.url.startsWith("/portal/") && !request.url.startsWith("/portal/assets/"))
      reply.header("cache-control", "no-store");
  });

  // Who is asking, then whether a state change is theirs: cross-site first (cheap, no
  // database), then the CSRF token — the session's, or before sign-in the pre-session cookie's.
  app.addHook("preHandler", async (request) => {
    if (!request.url.startsWith("/portal/")) return;
    request.portalSession = await resolveSession(deps.db, request.cookies[cookies.session], deps.lifetime);
    if (request.method === "GET" || request.method === "HEAD") return;
    refuseCrossSite(request, routeDeps.ownOrigin);
    const expected = request.portalSession?.csrfToken ?? request.cookies[cookies.presession];
    checkCsrfToken(presentedCsrfToken(request), expected);
  });

  app.addHook("onResponse", async (request, reply) => {
    deps.metrics.requests.observe(
      { route: request.routeOptions.url ?? "unmatched", method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const refusal =
      error instanceof PortalError
        ? error
        : (error as { statusCode?: number }).statusCode === 413
          ? new PortalError("invalid", "That was too much to send at once. Send less.")
          : (error as { validation?: unknown }).validation !== undefined || (error as { statusCode?: number }).statusCode === 400
            ? new PortalError("invalid", "The request could not be read. Check what was sent.")
            : null;
    if (refusal === null) {
      request.log.error({ err: error, url: request.routeOptions.url }, "portal request failed");
    } else if (refusal.code === "cross_site" || refusal.code === "csrf") {
      request.log.debug({ code: refusal.code, url: request.routeOptions.url }, "state change refused");
    }
    const status = refusal?.status ?? 500;
    const message =
      refusal?.message ??
      "Something went wrong on our side. Try again in a moment; if it persists, tell the platform's administrator.";
    if (refusal?.retryAfter !== undefined) reply.header("retry-after", String(refusal.retryAfter));
    if (isApi(request)) {
      return reply
        .status(status)
        .send({ error: refusal?.code ?? "internal", message, ...(refusal?.fields ? { fields: refusal.fields } : {}) });
    }
    if (refusal?.code === "unauthenticated") return reply.redirect("/portal/sign-in", 303);
    return reply
      .status(status)
      .type("text/html; charset=utf-8")
      .send(
        page(
          status === 404 ? "Not found" : "Something needs your attention",
          errorView(message, sameOriginReferer(request, routeDeps)),
          {
            session: request.portalSession,
          },
        ),
      );
  });

  app.setNotFoundHandler(async (request) => {
    throw new PortalError(
      "not_found",
      `${isApi(request) ? "This API route" : "This page"} does not exist, or it is not yours to see.`,
    );
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const checks = [
      { name: "database", check: async () => void (await sql`select 1`.execute(deps.db)) },
      ...(deps.readiness ?? []),
    ];
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await Promise.race([
            check(),
            new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 1_000).unref()),
          ]);
          return [name, "ok"] as const;
        } catch {
          return [name, "unavailable"] as const;
        }
      }),
    );
    const ready = results.every(([, s]) => s === "ok");
    return reply.status(ready ? 200 : 503).send({ status: ready ? "ready" : "not_ready", checks: Object.fromEntries(results) });
  });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  app.get("/portal/assets/portal.css", async (_request, reply) =>
    reply.type("text/css; charset=utf-8").header("cache-control", "public, max-age=3600").send(PORTAL_CSS),
  );

  await app.register(apiRoutes, routeDeps);
  await app.register(pageRoutes, routeDeps);
  return app;
}

/** The signed-in person's context, or a refusal: 401 for the API, a redirect to sign-in for pages. */
export function contextOf(request: FastifyRequest, deps: RouteDeps): PortalContext {
  const session = request.portalSession;
  if (session === null) throw new PortalError("unauthenticated", "Sign in first.");
  return { session, db: deps.db, kube: deps.kube };
}

/** Sets the session cookie after sign-in (and drops the pre-session one). */
export function setSessionCookie(reply: FastifyReply, deps: RouteDeps, token: string): void {
  reply.setCookie(deps.cookies.session, token, {
    path: "/",
    httpOnly: true,
    secure: deps.cookies.secure,
    sameSite: "lax",
    maxAge: Math.floor(deps.lifetime.absoluteMs / 1000),
  });
  reply.clearCookie(deps.cookies.presession, { path: "/", secure: deps.cookies.secure, httpOnly: true, sameSite: "lax" });
}

/** Clears the session cookie. */
export function clearSessionCookie(reply: FastifyReply, deps: RouteDeps): void {
  reply.clearCookie(deps.cookies.session, { path: "/", secure: deps.cookies.secure, httpOnly: true, sameSite: "lax" });
}

/**
 * The pre-session CSRF token (double-submit cookie) for the forms a person fills in before
 * they have a session: sign-in and accepting an invitation.
 */
export function presessionToken(request: FastifyRequest, reply: FastifyReply, deps: RouteDeps): string {
  const existing = request.cookies[deps.cookies.presession];
  if (existing !== undefined && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString("base64url");
  reply.setCookie(deps.cookies.presession, token, { path: "/", httpOnly: true, secure: deps.cookies.secure, sameSite: "lax" });
  return token;
}

/** The client address a session records and the throttle counts (X-Forwarded-For only from trusted proxies). */
export function clientAddress(request: FastifyRequest): string {
  return request.ip;
}

/** The page a refused form came from, when it is the portal's own (never a link elsewhere). */
function sameOriginReferer(request: FastifyRequest, deps: RouteDeps): string | null {
  const referer = request.headers.referer;
  if (request.method === "GET" || referer === undefined) return null;
  try {
    const url = new URL(referer);
    return url.origin === deps.ownOrigin && url.pathname.startsWith("/portal/") ? url.pathname + url.search : null;
  } catch {
    return null;
  }
}
