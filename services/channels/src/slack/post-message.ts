import type { Dispatcher } from "undici";
import type { PostResult } from "../reply-protocol.ts";

/**
 * Slack errors that no retry can fix: the reply is dead-lettered. (Anything else Slack refuses
 * outright is retried; anything that may have half-happened is verified before a re-post.)
 */
const PERMANENT_ERRORS = new Set([
  "channel_not_found",
  "not_in_channel",
  "is_archived",
  "invalid_auth",
  "not_authed",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "no_permission",
  "missing_scope",
  "restricted_action",
  "restricted_action_read_only_channel",
  "restricted_action_thread_only_channel",
  "restricted_action_non_threadable_channel",
  "ekm_access_denied",
  "team_access_not_granted",
  "msg_too_long",
  "no_text",
  "invalid_arguments",
  "invalid_metadata_format",
  "invalid_metadata_schema",
  "metadata_too_large",
  "cannot_reply_to_message",
  "thread_locked",
]);

// Slack says these may have partly succeeded before failing: treat like a lost response.
const UNCERTAIN_ERRORS = new Set(["internal_error", "fatal_error"]);

/** The arguments of one `chat.postMessage`, as Slack's JSON body takes them. */
export interface ChatPostMessageArgs {
  channel: string;
  thread_ts: string;
  text: string;
  metadata: { event_type: string; event_payload: Record<string, unknown> };
}

/** Options for {@link createChatPostMessage}. */
export interface ChatPostMessageOptions {
  /** Slack Web API base URL (`SLACK_API_URL`), such as `https://slack.com/api/`. */
  slackApiUrl: string;
  /** The keep-alive connections every post goes over. */
  dispatcher: Dispatcher;
  /** The longest wait for Slack's answer headers, and again for its body. */
  timeoutMs: number;
}

/** Posts one message; never throws: every answer and failure becomes a {@link PostResult}. */
export type ChatPostMessage = (token: string, args: ChatPostMessageArgs) => Promise<PostResult>;

/**
 * `chat.postMessage` as one undici request: JSON body, bearer token, kept-alive sockets.
 * `@slack/web-api`'s WebClient does the same call through a queue, a retry wrapper, form
 * encoding, header and log redaction and a response wrapper, all unused here (retries belong to
 * JetStream, the rate limit to the reply protocol): about a tenth of the gateway's CPU per
 * message under load. Its error mapping is Slack's wire protocol, kept here and tested against
 * the Slack double: 429 waits `Retry-After`; HTTP 200 with `ok: false` is a refusal (permanent
 * or not) unless Slack says it may have half-happened; any other status, an unreadable answer, a
 * timeout or a network error may have posted, so it is uncertain and looked for before a re-post.
 * undici never retries a POST by itself, so one call is at most one post.
 */
export function createChatPostMessage(options: ChatPostMessageOptions): ChatPostMessage {
  // As WebClient does: the base is a folder whether or not it ends in a slash.
  const base = options.slackApiUrl.endsWith("/") ? options.slackApiUrl : `${options.slackApiUrl}/`;
  const url = new URL("chat.postMessage", base);
  const origin = url.origin;
  const path = url.pathname;
  const { dispatcher, timeoutMs } = options;
  return async (token, args) => {
    let answer: Dispatcher.ResponseData;
    try {
      answer = await dispatcher.request({
        origin,
        path,
        method: "POST",
        headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${token}` },
        body: JSON.stringify(args),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      return { kind: "uncertain", detail: detailOf(error) };
    }
    const { statusCode, headers, body } = answer;
    if (statusCode === 429) {
      await body.dump();
      return { kind: "rate_limited", retryAfterMs: retryAfterSeconds(headers["retry-after"]) * 1_000 };
    }
    if (statusCode !== 200) {
      await body.dump();
      return { kind: "uncertain", detail: `HTTP ${statusCode}` };
    }
    let result: { ok?: unknown; error?: unknown; ts?: unknown };
    try {
      result = (await body.json()) as typeof result;
    } catch (error) {
      // A cut or garbled answer: Slack may have posted before it was lost.
      return { kind: "uncertain", detail: `unreadable answer: ${detailOf(error)}` };
    }
    if (result?.ok === true) return { kind: "posted", messageId: typeof result.ts === "string" ? result.ts : null };
    const code = typeof result?.error === "string" ? result.error : "unknown_error";
    if (UNCERTAIN_ERRORS.has(code)) return { kind: "uncertain", detail: code };
    return { kind: "refused", permanent: PERMANENT_ERRORS.has(code), detail: `chat.postMessage: ${code}` };
  };
}

/** Slack's `Retry-After` in whole seconds; at least 1 (also when absent or unreadable). */
function retryAfterSeconds(header: string | string[] | undefined): number {
  const seconds = Number.parseInt(Array.isArray(header) ? (header[0] ?? "") : (header ?? ""), 10);
  return Number.isFinite(seconds) && seconds > 1 ? seconds : 1;
}

function detailOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
