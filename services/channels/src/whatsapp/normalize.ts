import { compile, type KonstructMessage, MessageValidationError, newId } from "@konstruct/core";
import { type Static, Type } from "@sinclair/typebox";

/**
 * The Cloud API's webhook notification, as far as Konstruct reads it:
 * `{object: "whatsapp_business_account", entry: [{id, changes: [{field, value}]}]}`, where a
 * `messages` change's value carries `metadata.phone_number_id`, `contacts` (profile names) and
 * either `messages` (what customers wrote) or `statuses` (what became of our sends). One
 * notification may batch several entries, changes and messages.
 */
const Contact = Type.Object({
  wa_id: Type.String(),
  profile: Type.Optional(Type.Object({ name: Type.Optional(Type.String()) })),
});

const InboundMessage = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 256 }),
  from: Type.String({ minLength: 1, maxLength: 64 }),
  timestamp: Type.String({ pattern: "^[0-9]{1,12}$" }),
  type: Type.String(),
  text: Type.Optional(Type.Object({ body: Type.String() })),
  context: Type.Optional(Type.Object({ id: Type.Optional(Type.String()), from: Type.Optional(Type.String()) })),
});

const Value = Type.Object({
  messaging_product: Type.Optional(Type.String()),
  metadata: Type.Object({ phone_number_id: Type.String(), display_phone_number: Type.Optional(Type.String()) }),
  contacts: Type.Optional(Type.Array(Contact)),
  messages: Type.Optional(Type.Array(InboundMessage)),
  statuses: Type.Optional(Type.Array(Type.Object({ id: Type.String(), status: Type.String() }))),
  errors: Type.Optional(Type.Array(Type.Unknown())),
});

const Change = Type.Object({ field: Type.String(), value: Type.Unknown() });

export const WhatsAppNotification = Type.Object({
  object: Type.String(),
  entry: Type.Array(Type.Object({ id: Type.String(), changes: Type.Array(Change, { maxItems: 1000 }) }), { maxItems: 1000 }),
});
export type WhatsAppNotification = Static<typeof WhatsAppNotification>;
type ChangeValue = Static<typeof Value>;

/** Why a part of a notification produced no message — each case ignored on purpose. */
export type WhatsAppIgnoreReason =
  | "other_object" // not a WhatsApp Business Account notification (e.g. a page or Instagram app)
  | "unsupported_field" // account, template and echo fields (smb_message_echoes: our own sends)
  | "other_number" // a notification for another phone number of the same Meta app
  | "status" // sent/delivered/read/failed of our own replies: nothing to answer
  | "error" // an asynchronous error report
  | "non_text" // images, audio, reactions, locations, …: nothing to answer as text
  | "own_message" // the business number itself as the sender
  | "outside_window"; // written more than 24 hours ago (Meta retries for days): no free-form reply can reach the customer now

export type WhatsAppNormalized =
  | { kind: "message"; message: KonstructMessage }
  | { kind: "ignored"; reason: WhatsAppIgnoreReason; detail: string };

const notificationValidator = compile(WhatsAppNotification);
const valueValidator = compile(Value);

/** Options for {@link normalizeWhatsAppNotification}. */
export interface WhatsAppNormalizeOptions {
  connectionId: string;
  /** The connection's phone number id (its external id). */
  phoneNumberId: string;
  newId?: () => string;
  now?: () => number;
}

/** WhatsApp's customer service window: free-form replies only within 24 hours of the customer's last message. */
export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 60 * 60_000;

/**
 * Normalizes a verified notification into one result per message or status it carries; throws
 * MessageValidationError on a malformed one. A customer's chat with the business number is one
 * conversation: thread and channel are the customer's WhatsApp id.
 */
export function normalizeWhatsAppNotification(body: unknown, options: WhatsAppNormalizeOptions): WhatsAppNormalized[] {
  if (!notificationValidator.check(body)) throw new MessageValidationError(notificationValidator.issues(body, 5));
  if (body.object !== "whatsapp_business_account") {
    return [{ kind: "ignored", reason: "other_object", detail: body.object.slice(0, 64) }];
  }
  const results: WhatsAppNormalized[] = [];
  for (const entry of body.entry) {
    for (const change of entry.changes) {
      if (change.field !== "messages") {
        results.push({ kind: "ignored", reason: "unsupported_field", detail: change.field.slice(0, 64) });
        continue;
      }
      if (!valueValidator.check(change.value)) throw new MessageValidationError(valueValidator.issues(change.value, 5));
      results.push(...normalizeValue(change.value, options));
    }
  }
  return results;
}

function normalizeValue(value: ChangeValue, options: WhatsAppNormalizeOptions): WhatsAppNormalized[] {
  const number = value.metadata.phone_number_id;
  if (number !== options.phoneNumberId) {
    const parts = (value.messages?.length ?? 0) + (value.statuses?.length ?? 0) || 1;
    return Array.from(
      { length: parts },
      () => ({ kind: "ignored", reason: "other_number", detail: number.slice(0, 64) }) as const,
    );
  }
  const results: WhatsAppNormalized[] = [];
  for (const status of value.statuses ?? []) {
    // Our replies' receipts: logged at debug, never a message (answering them would loop).
    results.push({ kind: "ignored", reason: "status", detail: status.status.slice(0, 32) });
  }
  if (value.errors?.length) results.push({ kind: "ignored", reason: "error", detail: `${value.errors.length} error(s)` });
  const ownNumber = value.metadata.display_phone_number?.replace(/\D/g, "");
  for (const message of value.messages ?? []) {
    if (ownNumber && message.from.replace(/\D/g, "") === ownNumber) {
      results.push({ kind: "ignored", reason: "own_message", detail: message.type.slice(0, 32) });
      continue;
    }
    const writtenAt = Number(message.timestamp) * 1000;
    if ((options.now ?? Date.now)() - writtenAt > CUSTOMER_SERVICE_WINDOW_MS) {
      // A notification Meta kept retrying past the window: a model run would produce a reply Graph refuses (131047).
      results.push({ kind: "ignored", reason: "outside_window", detail: new Date(writtenAt).toISOString() });
      continue;
    }
    if (message.type !== "text" || message.text === undefined) {
      results.push({ kind: "ignored", reason: "non_text", detail: message.type.slice(0, 32) });
      continue;
    }
    const name = value.contacts?.find((c) => c.wa_id === message.from)?.profile?.name;
    const konstruct: KonstructMessage = {
      id: (options.newId ?? newId)(),
      tenantId: null,
      channelType: "whatsapp",
      channel: {
        connectionId: options.connectionId,
        workspaceId: number,
        channelId: message.from,
        messageId: message.id,
        isDirect: true,
        botUserId: number,
      },
      sender: { id: message.from, displayName: name ? name.slice(0, 256) : null, isBot: false, botId: null },
      content: { text: message.text.body, mentions: [], mentionsBot: true, attachments: [] },
      threadId: message.from,
      timestamp: new Date(writtenAt).toISOString(),
      // Meta redelivers a notification with the same message id (wamid): JetStream keeps one.
      deliveryId: message.id,
    };
    results.push({ kind: "message", message: konstruct });
  }
  return results;
}
