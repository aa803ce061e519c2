import { createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createFailureQueue, listenOnLoopback, readBody } from "../double-server.ts";

/**
 * A local Slack Web API for tests, speaking Slack's wire format: `POST /api/<method>` with a
 * form-encoded or JSON body, the token in `Authorization: Bearer` (or a `token` field), HTTP
 * 200 with `{ok: true, …}` or `{ok: false, error}`, and HTTP 429 with `Retry-After` when rate
 * limited. Point `SLACK_API_URL` (or WebClient's `slackApiUrl`) at {@link SlackApiDouble.url}.
 */

/** The workspace and bot a token belongs to. */
export interface SlackTokenInfo {
  teamId: string;
  botUserId: string;
  botId?: string;
}

/** One message the double holds, as Slack would return it. */
export interface SlackApiMessage {
  type: "message";
  ts: string;
  channel: string;
  thread_ts?: string;
  text: string;
  user: string;
  bot_id: string;
  team: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

/** One request the double received. */
export interface SlackApiCall {
  method: string;
  token: string | null;
  /** The body's fields; JSON-valued form fields (like `metadata`) are decoded. */
  args: Record<string, unknown>;
  status: number;
  response: Record<string, unknown>;
  at: number;
}

/** A failure injected into the next matching calls. */
export type SlackApiFailure =
  /** HTTP 429 with `Retry-After: <seconds>` (Slack's rate limit). */
  | { status: 429; retryAfter: number }
  /** HTTP status other than 200/429, e.g. 500 or 503. */
  | { status: number }
  /** HTTP 200 with `{ok: false, error}`, e.g. `channel_not_found`. */
  | { error: string }
  /** Perform the call, then destroy the connection instead of answering: the response is lost. */
  | { dropResponse: true }
  /** Perform the call, then answer after `delayMs`. */
  | { delayMs: number };

/** The workspace that approves the next "Add to Slack" on the double's consent page. */
export interface SlackInstallingTeam {
  id: string;
  name?: string;
  /** An Enterprise Grid org-wide install. */
  enterprise?: boolean;
  /** The app has token rotation on: the token expires and comes with a refresh token. */
  rotating?: boolean;
  /** The user declines instead (Slack redirects with `error=access_denied`). */
  deny?: boolean;
}

/** The shared app's OAuth credentials, as Slack knows them. */
export interface SlackOAuthApp {
  clientId: string;
  clientSecret: string;
  appId?: string;
}

/** Options for {@link startSlackApi}. */
export interface SlackApiOptions {
  /** Known bot tokens; any other token gets `invalid_auth`. */
  tokens?: Record<string, SlackTokenInfo>;
  /** The OAuth v2 app: enables the consent page (`GET /oauth/v2/authorize`) and `oauth.v2.access`. */
  oauth?: SlackOAuthApp;
  port?: number;
  /** Called as each `chat.postMessage` is stored, before it is answered (benchmarks time replies with it). */
  onPost?: (message: SlackApiMessage) => void;
}

/** A running Slack Web API double. */
export interface SlackApiDouble {
  /** Base URL ending in `/api/`, as WebClient's `slackApiUrl` expects. */
  url: string;
  /** Every call received, in order. */
  calls: SlackApiCall[];
  /** Messages successfully posted with `chat.postMessage`, optionally filtered. */
  posts(filter?: { channel?: string; thread_ts?: string; token?: string }): SlackApiMessage[];
  addToken(token: string, info: SlackTokenInfo): void;
  /** The consent page's URL (`SLACK_OAUTH_AUTHORIZE_URL`). */
  authorizeUrl: string;
  /** Sets who approves the next installs on the consent page. */
  installAs(team: SlackInstallingTeam): void;
  /** Bot tokens issued by `oauth.v2.access`, in order. */
  installs: { teamId: string; token: string; botUserId: string }[];
  /** The next `count` calls (of `method`, if given) fail as described. */
  failNext(count: number, failure: SlackApiFailure, method?: string): void;
  /** Resolves when `count` posts matching `filter` exist, or rejects after `timeoutMs`. */
  waitForPosts(count: number, filter?: { channel?: string; thread_ts?: string }, timeoutMs?: number): Promise<SlackApiMessage[]>;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the double on a loopback port. */
export async function startSlackApi(options: SlackApiOptions = {}): Promise<SlackApiDouble> {
  const tokens = new Map(Object.entries(options.tokens ?? {}));
  const calls: SlackApiCall[] = [];
  const messages: (SlackApiMessage & { token: string })[] = [];
  const failures = createFailureQueue<SlackApiFailure>();
  let lastTs = 0;
  let installing: SlackInstallingTeam = { id: "T0DOUBLE", name: "Double Workspace" };
  const codes = new Map<string, { team: SlackInstallingTeam; redirectUri: string }>();
  const installs: { teamId: string; token: string; botUserId: string }[] = [];

  // Slack's ts is "<seconds>.<6 digits>", unique per channel and increasing.
  const nextTs = (): string => {
    lastTs = Math.max(lastTs + 1, Date.now() * 1000);
    return `${Math.floor(lastTs / 1_000_000)}.${String(lastTs % 1_000_000).padStart(6, "0")}`;
  };

  const methods: Record<string, (args: Record<string, unknown>, token: string, info: SlackTokenInfo) => Record<string, unknown>> =
    {
      "auth.test": (_args, _token, info) => ({
        ok: true,
        url: `https://${info.teamId.toLowerCase()}.slack.com/`,
        team: info.teamId,
        user: "konstruct",
        team_id: info.teamId,
        user_id: info.botUserId,
        bot_id: info.botId ?? `B${info.botUserId.slice(1)}`,
        is_enterprise_install: false,
      }),
      "chat.postMessage": (args, token, info) => {
        const channel = args.channel;
        const text = args.text;
        if (typeof channel !== "string" || channel === "") return { ok: false, error: "channel_not_found" };
        if ((typeof text !== "string" || text === "") && !args.blocks && !args.attachments)
          return { ok: false, error: "no_text" };
        if (typeof text === "string" && text.length > 40_000) return { ok: false, error: "msg_too_long" };
        const message: SlackApiMessage = {
          type: "message",
          ts: nextTs(),
          channel,
          text: String(text ?? ""),
          user: info.botUserId,
          bot_id: info.botId ?? `B${info.botUserId.slice(1)}`,
          team: info.teamId,
          ...(typeof args.thread_ts === "string" && args.thread_ts ? { thread_ts: args.thread_ts } : {}),
          ...(isMetadata(args.metadata) ? { metadata: args.metadata } : {}),
        };
        messages.push({ ...message, token });
        options.onPost?.(message);
        const { channel: _c, ...shown } = message;
        return { ok: true, channel, ts: message.ts, message: withoutMetadata(shown) };
      },
      "conversations.replies": (args, _token, info) => {
        const channel = args.channel;
        const ts = args.ts;
        if (typeof channel !== "string" || typeof ts !== "string") return { ok: false, error: "invalid_arguments" };
        const includeMetadata = args.include_all_metadata === true || args.include_all_metadata === "true";
        const oldest = Number(args.oldest ?? 0);
        const replies = messages
          .filter((m) => m.channel === channel && m.thread_ts === ts && Number(m.ts) >= oldest)
          .map(({ token: _t, channel: _c, ...m }) => (includeMetadata ? m : withoutMetadata(m)));
        const parent = messages.find((m) => m.channel === channel && m.ts === ts);
        const head = parent
          ? withoutMetadata({ ...parent, channel: undefined, token: undefined })
          : { type: "message", ts, user: "U_HUMAN", text: "", team: info.teamId, thread_ts: ts, reply_count: replies.length };
        return { ok: true, messages: [head, ...replies], has_more: false, response_metadata: { next_cursor: "" } };
      },
    };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.url ?? "").replace(/^\/api\//, "").split("?")[0] ?? "";
    const args = parseBody(await readBody(req), req.headers["content-type"]);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const token = bearer ?? (typeof args.token === "string" ? args.token : null);
    const record = (status: number, response: Record<string, unknown>) =>
      calls.push({ method, token, args, status, response, at: Date.now() });
    const send = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      record(status, body);
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
      res.end(JSON.stringify(body));
    };

    if (req.method === "GET" && (req.url ?? "").startsWith("/oauth/v2/authorize")) return authorize(req, res);
    if (req.method !== "POST" && req.method !== "GET") return send(405, { ok: false, error: "method_not_allowed" });
    if (method === "oauth.v2.access") {
      const failure = failures.take(method);
      if (failure && "error" in failure) return send(200, { ok: false, error: failure.error });
      return send(200, exchange(args, req.headers.authorization));
    }
    const failure = failures.take(method);
    if (failure && "retryAfter" in failure) {
      return send(429, { ok: false, error: "ratelimited" }, { "retry-after": String(failure.retryAfter) });
    }
    if (failure && "status" in failure) return send(failure.status, { ok: false, error: "service_unavailable" });
    if (failure && "error" in failure) return send(200, { ok: false, error: failure.error });

    const impl = methods[method];
    if (!impl) return send(200, { ok: false, error: "unknown_method" });
    if (!token) return send(200, { ok: false, error: "not_authed" });
    const info = tokens.get(token);
    if (!info) return send(200, { ok: false, error: "invalid_auth" });
    const response = impl(args, token, info);

    if (failure && "dropResponse" in failure) {
      record(0, { dropped: true, ...response });
      res.socket?.destroy();
      return;
    }
    if (failure && "delayMs" in failure) await new Promise((resolve) => setTimeout(resolve, failure.delayMs));
    send(200, response);
  };

  // Slack's consent page, already agreed to by `installing`: straight back to the redirect URI.
  const authorize = (req: IncomingMessage, res: ServerResponse) => {
    const query = new URL(req.url ?? "", "http://double").searchParams;
    const redirectUri = query.get("redirect_uri") ?? "";
    calls.push({
      method: "oauth/v2/authorize",
      token: null,
      args: Object.fromEntries(query),
      status: 302,
      response: {},
      at: Date.now(),
    });
    if (!options.oauth || query.get("client_id") !== options.oauth.clientId || !/^https?:\/\//.test(redirectUri)) {
      res.writeHead(400, { "content-type": "text/plain" }).end("invalid_client_id");
      return;
    }
    const back = new URL(redirectUri);
    if (installing.deny) back.searchParams.set("error", "access_denied");
    else {
      const code = `code-${randomBytes(12).toString("hex")}`;
      codes.set(code, { team: installing, redirectUri });
      back.searchParams.set("code", code);
    }
    back.searchParams.set("state", query.get("state") ?? "");
    res.writeHead(302, { location: back.toString() }).end();
  };

  // oauth.v2.access: client credentials in the body or HTTP Basic, the code once, the same redirect URI.
  const exchange = (args: Record<string, unknown>, authorization: string | undefined): Record<string, unknown> => {
    const basic = /^Basic (.+)$/.exec(authorization ?? "")?.[1];
    const [basicId, basicSecret] = basic ? Buffer.from(basic, "base64").toString("utf8").split(":") : [];
    const clientId = basicId ?? args.client_id;
    const clientSecret = basicSecret ?? args.client_secret;
    if (!options.oauth || clientId !== options.oauth.clientId) return { ok: false, error: "invalid_client_id" };
    if (clientSecret !== options.oauth.clientSecret) return { ok: false, error: "bad_client_secret" };
    const grant = typeof args.code === "string" ? codes.get(args.code) : undefined;
    if (!grant) return { ok: false, error: "invalid_code" };
    codes.delete(args.code as string);
    if (args.redirect_uri !== grant.redirectUri) return { ok: false, error: "bad_redirect_uri" };
    const botUserId = `U${randomBytes(5).toString("hex").toUpperCase()}`;
    const token = `xoxb-${grant.team.id}-${randomBytes(10).toString("hex")}`;
    tokens.set(token, { teamId: grant.team.id, botUserId });
    installs.push({ teamId: grant.team.id, token, botUserId });
    return {
      ok: true,
      app_id: options.oauth.appId ?? "A0DOUBLE",
      authed_user: { id: "U0INSTALLER" },
      scope: "app_mentions:read,chat:write",
      token_type: "bot",
      access_token: token,
      bot_user_id: botUserId,
      team: { id: grant.team.id, name: grant.team.name ?? grant.team.id },
      enterprise: grant.team.enterprise ? { id: "E0DOUBLE", name: "Org" } : null,
      is_enterprise_install: grant.team.enterprise === true,
      ...(grant.team.rotating ? { expires_in: 43_200, refresh_token: `xoxe-1-${randomBytes(8).toString("hex")}` } : {}),
    };
  };

  const server = await listenOnLoopback((req, res) => {
    handle(req, res).catch((error) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, error: "fatal_error", detail: String(error) }));
    });
  }, options.port);
  const { port } = server;

  const matches = (m: SlackApiMessage & { token: string }, filter: { channel?: string; thread_ts?: string; token?: string }) =>
    (!filter.channel || m.channel === filter.channel) &&
    (!filter.thread_ts || m.thread_ts === filter.thread_ts) &&
    (!filter.token || m.token === filter.token);
  const posts = (filter: { channel?: string; thread_ts?: string; token?: string } = {}) =>
    messages.filter((m) => matches(m, filter)).map(({ token: _t, ...m }) => m);

  return {
    url: `http://127.0.0.1:${port}/api/`,
    calls,
    posts,
    addToken: (token, info) => tokens.set(token, info),
    authorizeUrl: `http://127.0.0.1:${port}/oauth/v2/authorize`,
    installAs: (team) => {
      installing = team;
    },
    installs,
    failNext: (count, failure, method) => {
      failures.add(count, failure, method);
    },
    async waitForPosts(count, filter = {}, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = posts(filter);
        if (found.length >= count) return found;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`Slack double: expected ${count} posts matching ${JSON.stringify(filter)}, saw ${posts(filter).length}`);
    },
    reset() {
      calls.length = 0;
      messages.length = 0;
      failures.clear();
    },
    close: server.close,
  };
}

/**
 * Signs a request body the way Slack does (v0 HMAC-SHA256 of `v0:<timestamp>:<body>`) and
 * returns the headers to send with it. `timestamp` is Unix seconds; default now.
 */
export function signSlackRequest(
  secret: string,
  body: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): { "content-type": string; "x-slack-request-timestamp": string; "x-slack-signature": string } {
  const signature = createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex");
  return {
    "content-type": "application/json",
    "x-slack-request-timestamp": String(timestamp),
    "x-slack-signature": `v0=${signature}`,
  };
}

function isMetadata(value: unknown): value is SlackApiMessage["metadata"] {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { event_type?: unknown }).event_type === "string" &&
    typeof (value as { event_payload?: unknown }).event_payload === "object"
  );
}

function withoutMetadata<T extends { metadata?: unknown }>(message: T): Omit<T, "metadata"> {
  const { metadata: _m, ...rest } = message;
  return rest;
}

// Slack accepts both encodings; in form bodies, structured arguments (metadata, blocks) are JSON strings.
function parseBody(body: string, contentType: string | undefined): Record<string, unknown> {
  if (!body) return {};
  if (contentType?.includes("application/json")) {
    try {
      return JSON.parse(body) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    args[key] = /^[[{]/.test(value) ? tryJson(value) : value;
  }
  return args;
}

function tryJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
