import type { OutboundReply } from "@konstruct/core";
import type { PostResult, ReplySender } from "../reply-protocol.ts";
import { cutReplyText } from "../reply-text.ts";
import type { WhatsAppConnection, WhatsAppConnectionStore } from "./connections.ts";

/** WhatsApp's limit on a text message's body; longer replies are cut there (one reply, one message). */
export const WHATSAPP_TEXT_LIMIT = 4096;

/** The Graph API's answer to one call, or how the call failed before an answer arrived. */
export type GraphResult<T> =
  | { kind: "ok"; result: T }
  /** Graph answered `{error: {code, message, error_data: {details}}}`; `retryAfterSeconds` from a Retry-After header. */
  | { kind: "error"; status: number; code: number; message: string; details: string | null; retryAfterSeconds: number | null }
  | { kind: "no_answer"; detail: string };

/** Posts JSON to the Graph API with the access token as a bearer. Never throws; never puts the token in a detail. */
export async function callGraphApi<T>(
  baseUrl: string,
  token: string,
  path: string,
  body: Record<string, unknown>,
  timeoutMs: number,
): Promise<GraphResult<T>> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl.replace(/\/+$/, "")}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    return { kind: "no_answer", detail: `${path}: ${typeof cause === "string" ? cause : (error as Error).name}` };
  }
  let payload: unknown;
  try {
    payload = await response.json();
  } catch {
    return { kind: "no_answer", detail: `HTTP ${response.status} without a Graph API body` };
  }
  if (response.ok) return { kind: "ok", result: payload as T };
  const error = (payload as { error?: { code?: unknown; message?: unknown; error_data?: { details?: unknown } } } | null)?.error;
  if (!error) return { kind: "no_answer", detail: `HTTP ${response.status} without a Graph API error` };
  const retryAfter = Number(response.headers.get("retry-after"));
  return {
    kind: "error",
    status: response.status,
    code: typeof error.code === "number" ? error.code : Number(error.code) || response.status,
    message: typeof error.message === "string" ? error.message.slice(0, 300) : `HTTP ${response.status}`,
    details: typeof error.error_data?.details === "string" ? error.error_data.details.slice(0, 300) : null,
    retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : null,
  };
}

/**
 * Rate limits, by Graph error code, with how long to wait when no Retry-After says: the pair
 * limit (one business number to one customer, about one message every 6 s), the number's
 * throughput (130429), and the app's and account's call budgets (4, 80007, 613).
 */
const RATE_LIMIT_WAIT_SECONDS: Readonly<Record<number, number>> = { 131056: 6, 130429: 2, 80007: 60, 4: 60, 613: 60 };

/** The 24-hour customer-service window has closed: only a template may reach the customer now. */
export const REENGAGEMENT_CODE = 131047;

/**
 * Refusals no retry can fix: the token (190 expired or revoked, 10 and 200–299 permissions), the
 * request (100, 131008, 131009, 131051 unsupported type), the recipient (131026 undeliverable,
 * 131030 not an allowed test number, 131021 the number itself), the account (131031 locked,
 * 133010 the number is not registered, 368 blocked for a policy).
 */
const PERMANENT_CODES = new Set([190, 10, 100, 131008, 131009, 131051, 131026, 131030, 131021, 131031, 133010, 368]);

/** Maps one failed messages call to what the reply protocol does next. */
export function whatsappPostFailure(result: Exclude<GraphResult<unknown>, { kind: "ok" }>): PostResult {
  if (result.kind === "no_answer") return { kind: "uncertain", detail: result.detail };
  const detail = `messages: ${result.code} ${result.message}${result.details ? ` (${result.details})` : ""}`;
  const wait = RATE_LIMIT_WAIT_SECONDS[result.code];
  if (result.status === 429 || wait !== undefined) {
    return { kind: "rate_limited", retryAfterMs: Math.max(1, result.retryAfterSeconds ?? wait ?? 5) * 1_000 };
  }
  if (result.code === REENGAGEMENT_CODE) {
    return {
      kind: "refused",
      permanent: true,
      detail:
        `${detail}: outside WhatsApp's 24-hour customer service window (the customer last wrote more than 24 hours ago); ` +
        "a free-form reply can no longer reach them, only an approved template",
    };
  }
  // A 5xx (or Graph's 1, 2, 131000 "something went wrong", 131016 service unavailable) may have sent.
  if (result.status >= 500 || [1, 2, 131000, 131016].includes(result.code)) return { kind: "uncertain", detail };
  const permanent = PERMANENT_CODES.has(result.code) || (result.code >= 200 && result.code <= 299);
  return { kind: "refused", permanent, detail };
}

/** What the WhatsApp sender needs. */
export interface WhatsAppSenderOptions {
  connections: WhatsAppConnectionStore;
  /** Graph API base URL with its version (`WHATSAPP_API_URL`, e.g. https://graph.facebook.com/v23.0). */
  apiUrl: string;
  callTimeoutMs?: number;
}

/**
 * WhatsApp's side of the reply protocol: a text message from the connection's number to the
 * customer, quoting the message it answers (`context.message_id`).
 *
 * There is no `find`: the Cloud API cannot look a sent message up, so a send whose answer was
 * lost is dead-lettered rather than sent again — at most once, as everywhere.
 */
export function createWhatsAppSender(options: WhatsAppSenderOptions): ReplySender<WhatsAppConnection> {
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  return {
    channel: "whatsapp",
    async target(reply) {
      const connection = await options.connections.get(reply.connectionId);
      if (!connection || connection.tenantId !== reply.tenantId || connection.phoneNumberId !== reply.target.workspaceId) {
        return { ok: false, reason: `WhatsApp connection ${reply.connectionId} not found for tenant ${reply.tenantId}` };
      }
      return { ok: true, connection };
    },
    async post(reply, connection) {
      const result = await callGraphApi<{ messages?: { id?: unknown }[] }>(
        options.apiUrl,
        connection.accessToken,
        `${encodeURIComponent(connection.phoneNumberId)}/messages`,
        messagesBody(reply),
        callTimeoutMs,
      );
      if (result.kind !== "ok") return whatsappPostFailure(result);
      const id = result.result?.messages?.[0]?.id;
      return { kind: "posted", messageId: typeof id === "string" ? id : null };
    },
  };
}

/** The messages endpoint's body for one reply. */
export function messagesBody(reply: OutboundReply): Record<string, unknown> {
  const quoted = reply.target.inReplyToMessageId;
  return {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: reply.target.channelId,
    type: "text",
    text: { body: cutReplyText(reply.text, WHATSAPP_TEXT_LIMIT), preview_url: false },
    ...(quoted ? { context: { message_id: quoted } } : {}),
  };
}
