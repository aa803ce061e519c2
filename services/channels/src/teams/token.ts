/**
 * The bot's own tokens for the Bot Connector API: OAuth 2.0 client credentials at Microsoft
 * Entra's token endpoint (`<login>/<tenant>/oauth2/v2.0/token`, tenant `botframework.com` for a
 * multi-tenant bot, the bot's Entra tenant for a single-tenant one), scope
 * `https://api.botframework.com/.default`. A token is reused until five minutes before it expires,
 * and concurrent requests for one bot share one fetch.
 */

/** Microsoft Entra's public login host (`TEAMS_LOGIN_URL` overrides it). */
export const MICROSOFT_LOGIN_URL = "https://login.microsoftonline.com";
/** The tenant of multi-tenant bots' tokens. */
export const BOT_FRAMEWORK_TOKEN_TENANT = "botframework.com";
export const BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default";

/** The credentials of one bot. */
export interface BotCredentials {
  appId: string;
  appPassword: string;
  appTenantId: string | null;
}

/** Why no token could be had: `rate_limited` with the endpoint's Retry-After, `refused` for bad credentials, `unavailable` otherwise. */
export class TeamsTokenError extends Error {
  readonly kind: "rate_limited" | "refused" | "unavailable";
  readonly retryAfterMs: number | null;
  constructor(kind: TeamsTokenError["kind"], message: string, retryAfterMs: number | null = null) {
    super(message);
    this.name = "TeamsTokenError";
    this.kind = kind;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Hands out cached Connector API tokens per bot. */
export interface TeamsTokenSource {
  token(bot: BotCredentials): Promise<string>;
  /** Forgets a bot's token (the Connector answered 401 with it). */
  forget(bot: BotCredentials): void;
}

/** Options for {@link createTeamsTokenSource}. */
export interface TeamsTokenSourceOptions {
  /** Base URL of the Entra login host, without the tenant. */
  loginUrl: string;
  timeoutMs?: number;
  /** How long before expiry a token is renewed. */
  renewBeforeMs?: number;
  now?: () => number;
}

/** Creates a token source with its own cache. */
export function createTeamsTokenSource(options: TeamsTokenSourceOptions): TeamsTokenSource {
  const now = options.now ?? Date.now;
  const renewBeforeMs = options.renewBeforeMs ?? 5 * 60_000;
  const cache = new Map<string, { token: string; expires: number; password: string }>();
  const pending = new Map<string, Promise<string>>();
  const keyOf = (bot: BotCredentials) => `${bot.appTenantId ?? BOT_FRAMEWORK_TOKEN_TENANT}/${bot.appId}`;

  async function fetchToken(bot: BotCredentials): Promise<string> {
    const tenant = bot.appTenantId ?? BOT_FRAMEWORK_TOKEN_TENANT;
    const url = `${options.loginUrl.replace(/\/+$/, "")}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: bot.appId,
          client_secret: bot.appPassword,
          scope: BOT_FRAMEWORK_SCOPE,
        }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      throw new TeamsTokenError("unavailable", `token endpoint: ${typeof code === "string" ? code : (error as Error).name}`);
    }
    const body = (await response.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
      error?: unknown;
    };
    if (response.status === 429) {
      throw new TeamsTokenError("rate_limited", "token endpoint: 429", retryAfterMs(response.headers.get("retry-after")));
    }
    if (response.status >= 400 && response.status < 500) {
      // invalid_client, unauthorized_client: the Secret's password is wrong or expired.
      throw new TeamsTokenError("refused", `token endpoint: ${response.status} ${String(body.error ?? "")}`.trim());
    }
    if (!response.ok || typeof body.access_token !== "string") {
      throw new TeamsTokenError("unavailable", `token endpoint: HTTP ${response.status}`);
    }
    const lifetimeMs = (typeof body.expires_in === "number" ? body.expires_in : Number(body.expires_in) || 3600) * 1000;
    // A short-lived token is still used once; it is renewed at half its life at the latest.
    cache.set(keyOf(bot), {
      token: body.access_token,
      expires: now() + Math.max(lifetimeMs - renewBeforeMs, lifetimeMs / 2),
      password: bot.appPassword,
    });
    if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
    return body.access_token;
  }

  return {
    async token(bot) {
      const key = keyOf(bot);
      const hit = cache.get(key);
      // A rotated password in the Secret gets a token of its own.
      if (hit && hit.expires > now() && hit.password === bot.appPassword) return hit.token;
      let request = pending.get(key);
      if (!request) {
        request = fetchToken(bot).finally(() => pending.delete(key));
        pending.set(key, request);
      }
      return request;
    },
    forget(bot) {
      cache.delete(keyOf(bot));
    },
  };
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; one second when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number {
  if (header === null) return 1_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.max(1, seconds) * 1_000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(1_000, date - now) : 1_000;
}
