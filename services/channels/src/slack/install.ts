import { LogLevel, WebAPIPlatformError, WebClient } from "@slack/web-api";
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { SlackConnectionStore } from "./connections.ts";
import { SLACK_INSTALL_ROUTE, SLACK_OAUTH_CALLBACK_ROUTE } from "./definition.ts";
import type { SlackInstallations } from "./installations.ts";
import { consumeInstallState, createInstallState, INSTALL_STATE_TTL_MS, verifyInstallState } from "./oauth-state.ts";

/** Slack's consent page for OAuth v2 ("Add to Slack"). */
export const SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize";

/** What a bot needs to hear and answer: mentions, direct messages, and the threads it is in. */
export const DEFAULT_SLACK_BOT_SCOPES = [
  "app_mentions:read",
  "chat:write",
  "channels:history",
  "groups:history",
  "im:history",
  "mpim:history",
] as const;

/** The shared Slack app's OAuth settings (`SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`, `SLACK_OAUTH_REDIRECT_URL`, …). */
export interface SlackOAuthSettings {
  clientId: string;
  clientSecret: string;
  /** The public URL of {@link SLACK_OAUTH_CALLBACK_ROUTE}, exactly as registered in the Slack app's Redirect URLs. */
  redirectUrl: string;
  /** Slack's consent page; a double's in tests. */
  authorizeUrl?: string | undefined;
  scopes?: readonly string[] | undefined;
}

/** What the install routes need. */
export interface SlackInstallOptions {
  oauth: SlackOAuthSettings;
  /** Slack Web API base, for `oauth.v2.access`. */
  slackApiUrl: string;
  /** The key states are signed with (`installStateKey`). */
  stateKey: Buffer;
  redis: Redis;
  installations: SlackInstallations;
  connections: SlackConnectionStore;
  log: Logger;
  now?: () => number;
}

/** The cookie that binds a state to the browser that started the installation. */
export const INSTALL_COOKIE = "konstruct_slack_install";

/**
 * "Add to Slack" for the shared app, per connection:
 * - `GET /webhooks/slack/install/:connectionId` — for a connection declared with `install: oauth`,
 *   redirects to Slack's consent page with the bot scopes, the redirect URL, the workspace the spec
 *   names (`team`, so Slack offers that one) and a fresh signed state; the state's nonce also goes
 *   into an HttpOnly cookie.
 * - `GET /webhooks/slack/oauth/callback` — checks the state (signature, expiry, the cookie, single
 *   use) before anything else, exchanges the code with `oauth.v2.access`, refuses an installation
 *   in any workspace but the one the spec names, an Enterprise Grid org install or an expiring
 *   (rotating) token, and stores the bot token sealed for the tenant.
 * Pages answer a person in a browser, so they say what happened and what to do, never why a state
 * failed in detail.
 */
export const slackInstall: FastifyPluginAsync<SlackInstallOptions> = async (app, options) => {
  const { oauth, installations, redis } = options;
  const now = options.now ?? Date.now;
  const log = options.log.child({ channel: "slack", flow: "install" });
  const secureCookie = oauth.redirectUrl.startsWith("https:");
  const cookiePath = new URL(oauth.redirectUrl).pathname;
  const client = new WebClient(undefined, {
    slackApiUrl: options.slackApiUrl,
    retryConfig: { retries: 0 },
    timeout: 10_000,
    logLevel: LogLevel.ERROR,
  });

  const page = (reply: FastifyReply, status: number, title: string, text: string) =>
    reply
      .status(status)
      .header("content-type", "text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .header("content-security-policy", "default-src 'none'")
      .header("referrer-policy", "no-referrer")
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
          `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`,
      );
  const cookie = (value: string, maxAgeSeconds: number) =>
    `${INSTALL_COOKIE}=${value}; Path=${cookiePath}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secureCookie ? "; Secure" : ""}`;
  const startAgain = "Start again from the install link of your Konstruct channel.";

  app.get<{ Params: { connectionId: string } }>(SLACK_INSTALL_ROUTE, async (request, reply) => {
    const { connectionId } = request.params;
    const route = await installations.target(connectionId);
    if (!route)
      return page(reply, 404, "No such installation", "This link does not belong to a Slack channel installed by OAuth.");
    const { state, nonce } = createInstallState(options.stateKey, { tenantId: route.tenantId, connectionId }, now());
    const url = new URL(oauth.authorizeUrl ?? SLACK_AUTHORIZE_URL);
    url.searchParams.set("client_id", oauth.clientId);
    url.searchParams.set("scope", (oauth.scopes ?? DEFAULT_SLACK_BOT_SCOPES).join(","));
    url.searchParams.set("user_scope", "");
    url.searchParams.set("redirect_uri", oauth.redirectUrl);
    url.searchParams.set("state", state);
    url.searchParams.set("team", route.teamId);
    log.info({ tenantId: route.tenantId, connectionId }, "Slack installation started");
    return reply
      .header("set-cookie", cookie(nonce, Math.floor(INSTALL_STATE_TTL_MS / 1000)))
      .header("cache-control", "no-store")
      .redirect(url.toString(), 302);
  });

  app.get<{ Querystring: { code?: string; state?: string; error?: string } }>(
    SLACK_OAUTH_CALLBACK_ROUTE,
    async (request, reply) => {
      const { code, error } = request.query;
      const state =
        typeof request.query.state === "string" ? verifyInstallState(options.stateKey, request.query.state, now()) : null;
      reply.header("set-cookie", cookie("", 0));
      const nonce = cookieValue(request.headers.cookie, INSTALL_COOKIE);
      if (!state || nonce !== state.nonce) {
        log.warn({ reason: state ? "cookie" : "state" }, "Slack installation refused: the state is not valid here");
        return page(reply, 400, "Installation link expired", `This installation could not be verified. ${startAgain}`);
      }
      if (!(await consumeInstallState(redis, state, now()))) {
        log.warn({ tenantId: state.tenantId, connectionId: state.connectionId }, "Slack installation refused: state replayed");
        return page(
          reply,
          400,
          "Installation link already used",
          `This installation was already completed or refused. ${startAgain}`,
        );
      }
      if (error !== undefined || typeof code !== "string" || !code) {
        return page(reply, 200, "Installation cancelled", "Slack did not install the app, so nothing changed.");
      }
      const target = await installations.target(state.connectionId, state.tenantId);
      if (!target) return page(reply, 404, "No such installation", "This Slack channel no longer exists in Konstruct.");

      let access: Awaited<ReturnType<WebClient["oauth"]["v2"]["access"]>>;
      try {
        access = await client.oauth.v2.access({
          client_id: oauth.clientId,
          client_secret: oauth.clientSecret,
          code,
          redirect_uri: oauth.redirectUrl,
        });
      } catch (cause) {
        const detail = cause instanceof WebAPIPlatformError ? cause.data.error : (cause as Error).message;
        log.warn({ tenantId: target.tenantId, detail }, "Slack refused the installation code");
        return page(reply, 502, "Slack refused the installation", `Slack answered ${detail}. ${startAgain}`);
      }
      const teamId = access.team?.id;
      const refuse = (title: string, text: string, reason: string) => {
        log.warn({ tenantId: target.tenantId, connectionId: target.connectionId, reason }, "Slack installation refused");
        return page(reply, 400, title, text);
      };
      if (access.is_enterprise_install) {
        return refuse("Organization installs are not supported", "Install the app in one workspace.", "enterprise_install");
      }
      if (teamId !== target.teamId) {
        return refuse(
          "Wrong workspace",
          `This channel is for workspace ${target.teamId}; the app was installed in ${teamId ?? "another one"}. Install it in ${target.teamId}, or change the channel's externalId.`,
          "team_mismatch",
        );
      }
      if (access.token_type !== "bot" || typeof access.access_token !== "string" || access.expires_in !== undefined) {
        return refuse(
          "Unsupported token",
          "The Slack app must issue a bot token that does not expire: turn token rotation off in its OAuth settings.",
          "token",
        );
      }
      const stored = await installations.store(target, {
        teamId,
        botToken: access.access_token,
        botUserId: access.bot_user_id ?? null,
        appId: access.app_id ?? null,
        scope: access.scope ?? null,
      });
      if (!stored) return page(reply, 409, "Channel changed", `This channel changed while it was being installed. ${startAgain}`);
      options.connections.forget?.(target.connectionId);
      log.info({ tenantId: target.tenantId, connectionId: target.connectionId }, "Slack installation stored");
      return page(
        reply,
        200,
        "Installed",
        `Konstruct is installed in ${access.team?.name ?? teamId}. You can close this window.`,
      );
    },
  );
};

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=") || null;
  }
  return null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
