import type { IncomingMessage, ServerResponse } from "node:http";
import { createFailureQueue, listenOnLoopback, readBody } from "../double-server.ts";

/**
 * A local Telegram Bot API for tests, speaking its wire format: `POST /bot<token>/<method>` with
 * a JSON (or form-encoded) body, answered `{ok: true, result}` or `{ok: false, error_code,
 * description, parameters?}` with the HTTP status equal to `error_code` (429 carries
 * `parameters.retry_after`). Unknown tokens get 401 "Unauthorized", as Telegram answers. Point
 * `TELEGRAM_API_URL` at {@link TelegramApiDouble.url}.
 */

/** A bot the double knows, by its token. */
export interface TelegramBotInfo {
  id: number;
  username: string;
  firstName?: string;
}

/** A message the double holds, as `sendMessage` returned it. */
export interface TelegramSentMessage {
  message_id: number;
  chat_id: string;
  text: string;
  /** The message it replies to (`reply_parameters.message_id` or `reply_to_message_id`). */
  reply_to_message_id: number | null;
  from_bot_id: number;
  date: number;
}

/** One request the double received. */
export interface TelegramApiCall {
  method: string;
  token: string;
  args: Record<string, unknown>;
  status: number;
  response: Record<string, unknown>;
  /** When the call was answered (ms since the epoch). */
  at: number;
}

/** A failure injected into the next matching calls. */
export type TelegramApiFailure =
  /** HTTP 429, `{error_code: 429, parameters: {retry_after}}`. */
  | { status: 429; retryAfter: number }
  /** `{ok: false}` with this status and description, e.g. 400 "Bad Request: chat not found" or 500. */
  | { status: number; description?: string }
  /** Perform the call, then destroy the connection instead of answering: the response is lost. */
  | { dropResponse: true };

/** Options for {@link startTelegramApi}. */
export interface TelegramApiOptions {
  /** Known bot tokens. */
  bots?: Record<string, TelegramBotInfo>;
  port?: number;
}

/** A running Bot API double. */
export interface TelegramApiDouble {
  /** Base URL, as `TELEGRAM_API_URL` takes it. */
  url: string;
  calls: TelegramApiCall[];
  /** Messages sent with `sendMessage`, optionally only one chat's or one bot's. */
  sent(filter?: { chatId?: string; botId?: number }): TelegramSentMessage[];
  /** The webhook each bot has set (`setWebhook`), by bot id. */
  webhooks: Map<number, { url: string; secretToken: string | null }>;
  addBot(token: string, info: TelegramBotInfo): void;
  /** The next `count` calls (of `method`, if given) fail as described. */
  failNext(count: number, failure: TelegramApiFailure, method?: string): void;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the double on a loopback port. */
export async function startTelegramApi(options: TelegramApiOptions = {}): Promise<TelegramApiDouble> {
  const bots = new Map(Object.entries(options.bots ?? {}));
  const calls: TelegramApiCall[] = [];
  const messages: TelegramSentMessage[] = [];
  const webhooks = new Map<number, { url: string; secretToken: string | null }>();
  const failures = createFailureQueue<TelegramApiFailure>();
  const nextIds = new Map<string, number>();

  const error = (status: number, description: string, parameters?: Record<string, unknown>) => ({
    status,
    body: { ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) },
  });

  type Answer = { status: number; body: Record<string, unknown> };
  const methods: Record<string, (args: Record<string, unknown>, bot: TelegramBotInfo) => Answer> = {
    getMe: (_args, bot) => ({
      status: 200,
      body: { ok: true, result: { id: bot.id, is_bot: true, first_name: bot.firstName ?? bot.username, username: bot.username } },
    }),
    setWebhook: (args, bot) => {
      if (typeof args.url !== "string") return error(400, "Bad Request: bad webhook: URL must be provided");
      if (args.url === "") {
        webhooks.delete(bot.id);
        return { status: 200, body: { ok: true, result: true, description: "Webhook was deleted" } };
      }
      const secret = args.secret_token;
      if (secret !== undefined && (typeof secret !== "string" || !/^[A-Za-z0-9_-]{1,256}$/.test(secret))) {
        return error(400, "Bad Request: secret token contains unallowed characters");
      }
      webhooks.set(bot.id, { url: args.url, secretToken: typeof secret === "string" ? secret : null });
      return { status: 200, body: { ok: true, result: true, description: "Webhook was set" } };
    },
    getWebhookInfo: (_args, bot) => ({
      status: 200,
      body: {
        ok: true,
        result: { url: webhooks.get(bot.id)?.url ?? "", has_custom_certificate: false, pending_update_count: 0 },
      },
    }),
    deleteWebhook: (_args, bot) => {
      webhooks.delete(bot.id);
      return { status: 200, body: { ok: true, result: true, description: "Webhook was deleted" } };
    },
    sendMessage: (args, bot) => {
      const chatId = args.chat_id;
      const text = args.text;
      if ((typeof chatId !== "string" && typeof chatId !== "number") || String(chatId) === "")
        return error(400, "Bad Request: chat not found");
      if (typeof text !== "string" || text.trim() === "") return error(400, "Bad Request: message text is empty");
      if (text.length > 4096) return error(400, "Bad Request: message is too long");
      const parameters = args.reply_parameters as { message_id?: unknown } | undefined;
      const replyTo = parameters?.message_id ?? args.reply_to_message_id;
      const key = String(chatId);
      const messageId = (nextIds.get(key) ?? 1000) + 1;
      nextIds.set(key, messageId);
      const message: TelegramSentMessage = {
        message_id: messageId,
        chat_id: key,
        text,
        reply_to_message_id: typeof replyTo === "number" ? replyTo : null,
        from_bot_id: bot.id,
        date: Math.floor(Date.now() / 1000),
      };
      messages.push(message);
      return {
        status: 200,
        body: {
          ok: true,
          result: {
            message_id: messageId,
            from: { id: bot.id, is_bot: true, first_name: bot.firstName ?? bot.username, username: bot.username },
            chat: { id: Number(chatId), type: Number(chatId) > 0 ? "private" : "supergroup" },
            date: message.date,
            text,
          },
        },
      };
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(new URL(request.url ?? "/", "http://double").pathname);
    const raw = await readBody(request);
    const args = parseArgs(raw, request.headers["content-type"]);
    const send = (answer: Answer) => {
      response.writeHead(answer.status, { "content-type": "application/json" });
      response.end(JSON.stringify(answer.body));
    };
    if (!match) return send(error(404, "Not Found"));
    const [, token = "", method = ""] = match;
    const record = (answer: Answer) => {
      calls.push({ method, token, args, status: answer.status, response: answer.body, at: Date.now() });
      return answer;
    };
    const bot = bots.get(token);
    if (!bot) return send(record(error(401, "Unauthorized")));
    const implementation = methods[method];
    if (!implementation) return send(record(error(404, "Not Found: method not found")));
    const failure = failures.take(method);
    if (failure && "retryAfter" in failure) {
      return send(
        record(error(429, `Too Many Requests: retry after ${failure.retryAfter}`, { retry_after: failure.retryAfter })),
      );
    }
    if (failure && "status" in failure) {
      return send(
        record(error(failure.status, failure.description ?? (failure.status >= 500 ? "Internal Server Error" : "Bad Request"))),
      );
    }
    const answer = record(implementation(args, bot));
    if (failure && "dropResponse" in failure) {
      request.socket.destroy();
      return;
    }
    send(answer);
  };

  const server = await listenOnLoopback((request, response) => {
    handle(request, response).catch(() => {
      response.writeHead(500).end();
    });
  }, options.port);

  return {
    url: `http://127.0.0.1:${server.port}`,
    calls,
    webhooks,
    sent(filter = {}) {
      return messages.filter(
        (m) =>
          (filter.chatId === undefined || m.chat_id === filter.chatId) &&
          (filter.botId === undefined || m.from_bot_id === filter.botId),
      );
    },
    addBot(token, info) {
      bots.set(token, info);
    },
    failNext(count, failure, method) {
      failures.add(count, failure, method);
    },
    reset() {
      calls.length = 0;
      messages.length = 0;
      failures.clear();
      webhooks.clear();
    },
    close: server.close,
  };
}

function parseArgs(raw: string, contentType: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  if (contentType?.includes("application/x-www-form-urlencoded")) {
    const args: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(raw)) {
      try {
        args[key] = JSON.parse(value);
      } catch {
        args[key] = value;
      }
    }
    return args;
  }
  try {
    const value = JSON.parse(raw) as unknown;
    return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
