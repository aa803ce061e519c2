/**
 * The few Bot API calls Konstruct makes, over plain `fetch`: `POST <base>/bot<token>/<method>`
 * with a JSON body; Telegram answers `{ok: true, result}` or `{ok: false, error_code,
 * description, parameters?: {retry_after, migrate_to_chat_id}}`. The URL carries the token, so
 * it is never logged or put in an error message.
 */

/** Telegram's answer to one call, or how the call failed before an answer arrived. */
export type BotApiResult<T> =
  | { kind: "ok"; result: T }
  /** Telegram answered with an error. `retryAfterSeconds` comes with 429. */
  | { kind: "error"; status: number; errorCode: number; description: string; retryAfterSeconds: number | null }
  /** No usable answer: a network error, a timeout, or a body that is not the Bot API's. */
  | { kind: "no_answer"; detail: string };

/** A Bot API user (`getMe`, `message.from`). */
export interface BotApiUser {
  id: number;
  is_bot: boolean;
  first_name?: string;
  username?: string;
}

/** Calls one Bot API method. Never throws. */
export async function callBotApi<T>(
  baseUrl: string,
  token: string,
  method: string,
  body: Record<string, unknown>,
  timeoutMs: number,
): Promise<BotApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl.replace(/\/+$/, "")}/bot${token}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    // fetch's own message never includes the URL; its cause (ECONNREFUSED, …) says what happened.
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    return { kind: "no_answer", detail: `${method}: ${typeof cause === "string" ? cause : (error as Error).name}` };
  }
  let payload: unknown;
  try {
    payload = await response.json();
  } catch {
    return { kind: "no_answer", detail: `${method}: HTTP ${response.status} without a Bot API body` };
  }
  const answer = (payload ?? {}) as {
    ok?: unknown;
    result?: unknown;
    error_code?: unknown;
    description?: unknown;
    parameters?: { retry_after?: unknown };
  };
  if (answer.ok === true && response.ok) return { kind: "ok", result: answer.result as T };
  if (answer.ok !== false) return { kind: "no_answer", detail: `${method}: HTTP ${response.status} without a Bot API body` };
  const retryAfter = answer.parameters?.retry_after;
  return {
    kind: "error",
    status: response.status,
    errorCode: typeof answer.error_code === "number" ? answer.error_code : response.status,
    description: typeof answer.description === "string" ? answer.description.slice(0, 300) : `HTTP ${response.status}`,
    retryAfterSeconds: typeof retryAfter === "number" && retryAfter >= 0 ? retryAfter : null,
  };
}
