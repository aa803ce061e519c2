import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { createFailureQueue, listenOnLoopback, readBody } from "../double-server.ts";

/**
 * A local Bot Framework for tests, speaking its wire protocols:
 * - the OpenID metadata document and its key set (`GET /v1/.well-known/openidconfiguration`,
 *   `GET /v1/.well-known/keys`), with a generated RSA key that signs real JWTs
 *   ({@link TeamsApiDouble.activityToken}); keys can be rotated;
 * - Microsoft Entra's token endpoint (`POST /<tenant>/oauth2/v2.0/token`, client credentials);
 * - the Bot Connector API (`POST /v3/conversations/<id>/activities/<activityId>`), which takes
 *   only tokens it issued, records replies, and fails on request (429 with Retry-After, 5xx, a
 *   lost response).
 * One server plays every host: point `TEAMS_OPENID_METADATA_URL`, `TEAMS_LOGIN_URL` and the
 * activities' `serviceUrl` at it.
 */

/** The issuer the double's tokens name (the Bot Framework's, so no override is needed). */
export const TEAMS_DOUBLE_ISSUER = "https://api.botframework.com";

/** A bot the double knows: its app id, password and (for a single-tenant bot) Entra tenant. */
export interface TeamsBot {
  appId: string;
  appPassword: string;
  tenant?: string;
}

/** One reply the Connector API received and stored. */
export interface TeamsReply {
  id: string;
  appId: string;
  conversationId: string;
  replyToActivityId: string;
  text: string;
  activity: Record<string, unknown>;
}

/** One request the double answered. */
export interface TeamsApiCall {
  kind: "metadata" | "keys" | "token" | "reply";
  status: number;
  at: number;
  appId?: string;
  conversationId?: string;
}

/** A failure injected into the next matching Connector or token calls. */
export type TeamsApiFailure =
  | { status: 429; retryAfter: number }
  | { status: number }
  /** Store the reply, then destroy the connection: the response is lost. */
  | { dropResponse: true };

/** Options for {@link startTeamsApi}. */
export interface TeamsApiOptions {
  bots?: TeamsBot[];
  /** Lifetime of issued Connector tokens. */
  tokenLifetimeSeconds?: number;
}

/** What an activity token says; everything defaults to a valid token for `appId`. */
export interface ActivityTokenOptions {
  appId: string;
  serviceUrl: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  /** Sign with a key the double does not publish (a forgery), keeping a published key id. */
  forged?: boolean;
  /** Sign with this key id's key; defaults to the current one. */
  kid?: string;
}

/** A running Bot Framework double. */
export interface TeamsApiDouble {
  /** Base URL (no trailing slash): the Connector's service URL and the login host. */
  url: string;
  openIdMetadataUrl: string;
  calls: TeamsApiCall[];
  /** Replies stored, optionally for one conversation or bot. */
  replies(filter?: { conversationId?: string; appId?: string }): TeamsReply[];
  /** A signed bearer token as the Bot Framework sends with an activity. */
  activityToken(options: ActivityTokenOptions): Promise<string>;
  /** Adds a new signing key and publishes it (dropping the old ones unless `keepOld`); returns its kid. */
  rotateKeys(keepOld?: boolean): Promise<string>;
  /** Signs with a key that is not published yet (as right after a rotation the keys were not refetched). */
  stageKey(): Promise<string>;
  /** The next `count` calls of `kind` fail as described. */
  failNext(count: number, failure: TeamsApiFailure, kind?: "reply" | "token"): void;
  addBot(bot: TeamsBot): void;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
  published: boolean;
}

async function newKey(published: boolean): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = randomBytes(12).toString("base64url");
  const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig", endorsements: ["msteams"] } as JWK;
  return { kid, privateKey, jwk, published };
}

/** Starts the double on a loopback port. */
export async function startTeamsApi(options: TeamsApiOptions = {}): Promise<TeamsApiDouble> {
  const bots = new Map((options.bots ?? []).map((b) => [b.appId.toLowerCase(), b]));
  const keys: SigningKey[] = [await newKey(true)];
  const stranger = await newKey(false);
  const issued = new Map<string, { appId: string; expires: number }>();
  const replies: TeamsReply[] = [];
  const calls: TeamsApiCall[] = [];
  const failures = createFailureQueue<TeamsApiFailure>();
  const lifetime = options.tokenLifetimeSeconds ?? 3599;
  let url = "";

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const body = await readBody(req);
    const send = (call: Omit<TeamsApiCall, "status" | "at">, status: number, payload: unknown, headers = {}) => {
      calls.push({ ...call, status, at: Date.now() });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(payload === undefined ? "" : JSON.stringify(payload));
    };

    if (req.method === "GET" && path === "/v1/.well-known/openidconfiguration") {
      return send({ kind: "metadata" }, 200, {
        issuer: TEAMS_DOUBLE_ISSUER,
        authorization_endpoint: `${url}/v1/authorize`,
        jwks_uri: `${url}/v1/.well-known/keys`,
        id_token_signing_alg_values_supported: ["RS256"],
        token_endpoint_auth_methods_supported: ["private_key_jwt"],
      });
    }
    if (req.method === "GET" && path === "/v1/.well-known/keys") {
      return send({ kind: "keys" }, 200, { keys: keys.filter((k) => k.published).map((k) => k.jwk) });
    }

    const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (req.method === "POST" && tokenPath) {
      const form = new URLSearchParams(body);
      const appId = (form.get("client_id") ?? "").toLowerCase();
      const failure = failures.take("token");
      if (failure && "retryAfter" in failure)
        return send({ kind: "token", appId }, 429, { error: "too_many_requests" }, { "retry-after": String(failure.retryAfter) });
      if (failure && "status" in failure)
        return send({ kind: "token", appId }, failure.status, { error: "temporarily_unavailable" });
      const bot = bots.get(appId);
      const tenant = decodeURIComponent(tokenPath[1] as string);
      if (form.get("grant_type") !== "client_credentials" || form.get("scope") !== "https://api.botframework.com/.default") {
        return send({ kind: "token", appId }, 400, { error: "invalid_request" });
      }
      if (!bot || bot.appPassword !== form.get("client_secret") || (bot.tenant ?? "botframework.com") !== tenant) {
        return send({ kind: "token", appId }, 401, { error: "invalid_client" });
      }
      const token = `teams-double-${randomBytes(18).toString("base64url")}`;
      issued.set(token, { appId, expires: Date.now() + lifetime * 1000 });
      return send({ kind: "token", appId }, 200, {
        token_type: "Bearer",
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: token,
      });
    }

    const replyPath = /^\/v3\/conversations\/([^/]+)\/activities\/([^/]+)$/.exec(path);
    if (req.method === "POST" && replyPath) {
      const conversationId = decodeURIComponent(replyPath[1] as string);
      const replyToActivityId = decodeURIComponent(replyPath[2] as string);
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      const grant = issued.get(bearer);
      const call = { kind: "reply" as const, conversationId, ...(grant ? { appId: grant.appId } : {}) };
      if (!grant || grant.expires < Date.now()) return send(call, 401, { error: { code: "Unauthorized", message: "token" } });
      const failure = failures.take("reply");
      if (failure && "retryAfter" in failure) {
        return send(call, 429, { error: { code: "TooManyRequests" } }, { "retry-after": String(failure.retryAfter) });
      }
      if (failure && "status" in failure) return send(call, failure.status, { error: { code: "ServiceError" } });
      let activity: Record<string, unknown>;
      try {
        activity = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return send(call, 400, { error: { code: "BadSyntax" } });
      }
      if (activity.type !== "message" || typeof activity.text !== "string" || !activity.text) {
        return send(call, 400, { error: { code: "BadArgument" } });
      }
      const stored: TeamsReply = {
        id: `1${Date.now()}${replies.length}`,
        appId: grant.appId,
        conversationId,
        replyToActivityId,
        text: activity.text,
        activity,
      };
      replies.push(stored);
      if (failure && "dropResponse" in failure) {
        calls.push({ ...call, status: 0, at: Date.now() });
        res.socket?.destroy();
        return;
      }
      return send(call, 201, { id: stored.id });
    }
    res.writeHead(404).end();
  };

  const server = await listenOnLoopback((req, res) => {
    handle(req, res).catch((error) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "ServiceError", message: String(error) } }));
    });
  });
  url = `http://127.0.0.1:${server.port}`;

  return {
    url,
    openIdMetadataUrl: `${url}/v1/.well-known/openidconfiguration`,
    calls,
    replies: (filter = {}) =>
      replies.filter(
        (r) =>
          (!filter.conversationId || r.conversationId === filter.conversationId) &&
          (!filter.appId || r.appId === filter.appId.toLowerCase()),
      ),
    async activityToken(token) {
      const current = keys.filter((k) => k.published).at(-1) as SigningKey;
      const chosen = token.kid ? (keys.find((k) => k.kid === token.kid) ?? current) : current;
      const kid = chosen.kid;
      const key = token.forged ? stranger.privateKey : chosen.privateKey;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ serviceurl: token.serviceUrl, appid: token.appId })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(token.issuer ?? TEAMS_DOUBLE_ISSUER)
        .setAudience(token.audience ?? token.appId)
        .setIssuedAt(now - 60)
        .setNotBefore(now - 60)
        .setExpirationTime(now + (token.expiresIn ?? 3600))
        .setJti(randomUUID())
        .sign(key);
    },
    async rotateKeys(keepOld = false) {
      if (!keepOld) for (const k of keys) k.published = false;
      const key = await newKey(true);
      keys.push(key);
      return key.kid;
    },
    async stageKey() {
      const key = await newKey(false);
      keys.push(key);
      return key.kid;
    },
    failNext(count, failure, kind) {
      failures.add(count, failure, kind);
    },
    addBot: (bot) => bots.set(bot.appId.toLowerCase(), bot),
    close: server.close,
  };
}
