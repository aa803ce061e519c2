import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createFailureQueue, listenOnLoopback, readBody } from "../double-server.ts";
import { CUSTOMER_SERVICE_WINDOW_MS } from "./normalize.ts";
import { whatsappSignature } from "./signature.ts";

/**
 * A local WhatsApp Cloud API for tests, speaking the Graph API's wire format:
 * `POST /<version>/<phone number id>/messages` with `Authorization: Bearer <token>` and a JSON
 * body, answered `{messaging_product, contacts: [{input, wa_id}], messages: [{id: "wamid…"}]}` or
 * `{error: {message, type, code, error_data: {messaging_product, details}, fbtrace_id}}`. An
 * unknown token gets 401 with code 190; a number the token does not own, 400 with code 100.
 * Like the real service it enforces the 24-hour customer service window: a free-form message to
 * a customer who has not written to the number within 24 hours is refused with 131047
 * ("Re-engagement message"); tests report what customers wrote with {@link WhatsAppApiDouble.customerWrote}.
 * Point `WHATSAPP_API_URL` at {@link WhatsAppApiDouble.url}.
 */

/** A business phone number the double serves, with the token allowed to send from it. */
export interface WhatsAppNumberInfo {
  accessToken: string;
  /** The number as people dial it, digits only (e.g. 15550001111). */
  displayPhoneNumber: string;
}

/** A message sent through the double. */
export interface WhatsAppSentMessage {
  id: string;
  phoneNumberId: string;
  to: string;
  text: string;
  /** The message it quotes (`context.message_id`). */
  contextMessageId: string | null;
  at: number;
}

/** One request the double received. */
export interface WhatsAppApiCall {
  phoneNumberId: string;
  token: string;
  body: Record<string, unknown>;
  status: number;
  response: Record<string, unknown>;
  at: number;
}

/** A failure injected into the next calls. */
export type WhatsAppApiFailure =
  /** A Graph error with this HTTP status and code (e.g. 400 + 131056 pair rate limit, 500 + 131000); `retryAfter` adds a Retry-After header. */
  | { status: number; code: number; message?: string; retryAfter?: number }
  /** Send the message, then destroy the connection instead of answering: the response is lost. */
  | { dropResponse: true };

/** Options for {@link startWhatsAppApi}. */
export interface WhatsAppApiOptions {
  /** Known numbers by phone number id. */
  numbers?: Record<string, WhatsAppNumberInfo>;
  port?: number;
  /** Refuse messages outside the 24-hour window (default true). */
  enforceWindow?: boolean;
}

/** A running Graph API double. */
export interface WhatsAppApiDouble {
  /** Base URL with a version, as `WHATSAPP_API_URL` takes it. */
  url: string;
  calls: WhatsAppApiCall[];
  /** Messages sent, optionally only one number's or to one customer. */
  sent(filter?: { phoneNumberId?: string; to?: string }): WhatsAppSentMessage[];
  addNumber(phoneNumberId: string, info: WhatsAppNumberInfo): void;
  /** Records that customer `waId` wrote to the number at `at` (ms; default now): the window opens for 24 hours. */
  customerWrote(phoneNumberId: string, waId: string, at?: number): void;
  /** The next `count` calls fail as described. */
  failNext(count: number, failure: WhatsAppApiFailure): void;
  reset(): void;
  close(): Promise<void>;
}

/** Signs a notification body as Meta does (`X-Hub-Signature-256`). */
export function signWhatsAppNotification(appSecret: string, body: string | Buffer): string {
  return whatsappSignature(appSecret, body);
}

/** A webhook notification carrying one text message from `from` to the number, as the Cloud API sends it. */
export function whatsappTextNotification(options: {
  phoneNumberId: string;
  displayPhoneNumber: string;
  from: string;
  name?: string;
  text: string;
  messageId?: string;
  timestamp?: number;
}): { body: Record<string, unknown>; messageId: string } {
  const messageId = options.messageId ?? `wamid.${randomBytes(18).toString("base64url")}`;
  return {
    messageId,
    body: notification(options.phoneNumberId, options.displayPhoneNumber, {
      contacts: [{ profile: { name: options.name ?? "Customer" }, wa_id: options.from }],
      messages: [
        {
          from: options.from,
          id: messageId,
          timestamp: String(Math.floor((options.timestamp ?? Date.now()) / 1000)),
          text: { body: options.text },
          type: "text",
        },
      ],
    }),
  };
}

/** A webhook notification with the status of a message the number sent (sent, delivered, read, failed). */
export function whatsappStatusNotification(options: {
  phoneNumberId: string;
  displayPhoneNumber: string;
  messageId: string;
  recipient: string;
  status: "sent" | "delivered" | "read" | "failed";
}): Record<string, unknown> {
  return notification(options.phoneNumberId, options.displayPhoneNumber, {
    statuses: [
      {
        id: options.messageId,
        status: options.status,
        timestamp: String(Math.floor(Date.now() / 1000)),
        recipient_id: options.recipient,
        conversation: { id: randomBytes(16).toString("hex"), origin: { type: "service" } },
        pricing: { billable: true, pricing_model: "PMP", category: "service" },
      },
    ],
  });
}

function notification(
  phoneNumberId: string,
  displayPhoneNumber: string,
  value: Record<string, unknown>,
): Record<string, unknown> {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: displayPhoneNumber, phone_number_id: phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

/** Starts the double on a loopback port. */
export async function startWhatsAppApi(options: WhatsAppApiOptions = {}): Promise<WhatsAppApiDouble> {
  const numbers = new Map(Object.entries(options.numbers ?? {}));
  const enforceWindow = options.enforceWindow ?? true;
  const calls: WhatsAppApiCall[] = [];
  const messages: WhatsAppSentMessage[] = [];
  const lastInbound = new Map<string, number>();
  const failures = createFailureQueue<WhatsAppApiFailure>();

  type Answer = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };
  const graphError = (
    status: number,
    code: number,
    message: string,
    details?: string,
    headers?: Record<string, string>,
  ): Answer => ({
    status,
    body: {
      error: {
        message,
        type: "OAuthException",
        code,
        ...(details ? { error_data: { messaging_product: "whatsapp", details } } : {}),
        fbtrace_id: randomBytes(9).toString("base64url"),
      },
    },
    ...(headers ? { headers } : {}),
  });

  const send = (phoneNumberId: string, body: Record<string, unknown>): Answer => {
    const to = body.to;
    const text = (body.text as { body?: unknown } | undefined)?.body;
    if (body.messaging_product !== "whatsapp") {
      return graphError(400, 100, "(#100) The parameter messaging_product is required.");
    }
    if (typeof to !== "string" || !/^\+?[0-9]{5,20}$/.test(to)) {
      return graphError(400, 131009, "(#131009) Parameter value is not valid", "Recipient phone number not valid");
    }
    if (body.type !== "text" || typeof text !== "string" || text === "") {
      return graphError(400, 131008, "(#131008) Required parameter is missing", "text.body is required");
    }
    if (text.length > 4096) return graphError(400, 100, "(#100) Param text['body'] must be at most 4096 characters long.");
    const wrote = lastInbound.get(`${phoneNumberId}/${to}`);
    if (enforceWindow && (wrote === undefined || Date.now() - wrote > CUSTOMER_SERVICE_WINDOW_MS)) {
      return graphError(
        400,
        131047,
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
      );
    }
    const context = body.context as { message_id?: unknown } | undefined;
    const message: WhatsAppSentMessage = {
      id: `wamid.${randomBytes(18).toString("base64url")}`,
      phoneNumberId,
      to,
      text,
      contextMessageId: typeof context?.message_id === "string" ? context.message_id : null,
      at: Date.now(),
    };
    messages.push(message);
    return {
      status: 200,
      body: { messaging_product: "whatsapp", contacts: [{ input: to, wa_id: to }], messages: [{ id: message.id }] },
    };
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const raw = await readBody(request);
    const reply = (answer: Answer) => {
      response.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      response.end(JSON.stringify(answer.body));
    };
    const match = /^\/v[0-9]+\.[0-9]+\/([^/]+)\/messages$/.exec(new URL(request.url ?? "/", "http://double").pathname);
    if (request.method !== "POST" || !match) {
      return reply(
        graphError(400, 100, "(#100) Unsupported request: the double serves POST /<version>/<phone number id>/messages"),
      );
    }
    const phoneNumberId = decodeURIComponent(match[1] ?? "");
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1] ?? "";
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (parsed !== null && typeof parsed === "object") body = parsed as Record<string, unknown>;
    } catch {
      // Graph answers a body it cannot read like a missing parameter.
    }
    const record = (answer: Answer) => {
      calls.push({ phoneNumberId, token, body, status: answer.status, response: answer.body, at: Date.now() });
      return answer;
    };
    if (![...numbers.values()].some((n) => n.accessToken === token)) {
      return reply(record(graphError(401, 190, "Invalid OAuth access token - Cannot parse access token")));
    }
    if (numbers.get(phoneNumberId)?.accessToken !== token) {
      return reply(
        record(
          graphError(
            400,
            100,
            `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
          ),
        ),
      );
    }
    const failure = failures.take();
    if (failure && "code" in failure) {
      const headers = failure.retryAfter === undefined ? undefined : { "retry-after": String(failure.retryAfter) };
      return reply(
        record(
          graphError(failure.status, failure.code, failure.message ?? `(#${failure.code}) injected failure`, undefined, headers),
        ),
      );
    }
    const answer = record(send(phoneNumberId, body));
    if (failure && "dropResponse" in failure) {
      request.socket.destroy();
      return;
    }
    reply(answer);
  };

  const server = await listenOnLoopback((request, response) => {
    handle(request, response).catch(() => response.writeHead(500).end());
  }, options.port);
  return {
    url: `http://127.0.0.1:${server.port}/v23.0`,
    calls,
    sent(filter = {}) {
      return messages.filter(
        (m) =>
          (filter.phoneNumberId === undefined || m.phoneNumberId === filter.phoneNumberId) &&
          (filter.to === undefined || m.to === filter.to),
      );
    },
    addNumber(phoneNumberId, info) {
      numbers.set(phoneNumberId, info);
    },
    customerWrote(phoneNumberId, waId, at = Date.now()) {
      lastInbound.set(`${phoneNumberId}/${waId}`, at);
    },
    failNext(count, failure) {
      failures.add(count, failure);
    },
    reset() {
      calls.length = 0;
      messages.length = 0;
      failures.clear();
      lastInbound.clear();
    },
    close: server.close,
  };
}
