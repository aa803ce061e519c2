import { MessageValidationError } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { whatsappStatusNotification, whatsappTextNotification } from "./double.ts";
import { normalizeWhatsAppNotification } from "./normalize.ts";

const NUMBER = "106540352242922";
const options = {
  connectionId: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c02",
  phoneNumberId: NUMBER,
  newId: () => "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c03",
  now: () => Date.UTC(2026, 0, 2, 4, 0, 0),
};

describe("normalizeWhatsAppNotification", () => {
  it("makes a customer's text one direct message, threaded by the customer, keyed by its wamid", () => {
    const { body, messageId } = whatsappTextNotification({
      phoneNumberId: NUMBER,
      displayPhoneNumber: "15550001111",
      from: "4915112345678",
      name: "Ada",
      text: "Do you deliver?",
      timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
    });
    const [result] = normalizeWhatsAppNotification(body, options);
    expect(result).toEqual({
      kind: "message",
      message: {
        id: "0b8f4a4e-3c7d-4e8e-9a55-2f4f7a1e9c03",
        tenantId: null,
        channelType: "whatsapp",
        channel: {
          connectionId: options.connectionId,
          workspaceId: NUMBER,
          channelId: "4915112345678",
          messageId,
          isDirect: true,
          botUserId: NUMBER,
        },
        sender: { id: "4915112345678", displayName: "Ada", isBot: false, botId: null },
        content: { text: "Do you deliver?", mentions: [], mentionsBot: true, attachments: [] },
        threadId: "4915112345678",
        timestamp: "2026-01-02T03:04:05.000Z",
        deliveryId: messageId,
      },
    });
  });

  it("ignores statuses, other numbers, other fields, other objects and non-text messages, each with its reason", () => {
    const status = whatsappStatusNotification({
      phoneNumberId: NUMBER,
      displayPhoneNumber: "15550001111",
      messageId: "wamid.X",
      recipient: "4915112345678",
      status: "read",
    });
    expect(normalizeWhatsAppNotification(status, options)).toEqual([{ kind: "ignored", reason: "status", detail: "read" }]);
    const other = whatsappTextNotification({ phoneNumberId: "999999999", displayPhoneNumber: "1", from: "2", text: "hi" }).body;
    expect(normalizeWhatsAppNotification(other, options)).toMatchObject([{ kind: "ignored", reason: "other_number" }]);
    const image = whatsappTextNotification({ phoneNumberId: NUMBER, displayPhoneNumber: "1", from: "2", text: "x" }).body as {
      entry: { changes: { value: { messages: Record<string, unknown>[] } }[] }[];
    };
    const message = image.entry[0]?.changes[0]?.value.messages[0] as Record<string, unknown>;
    message.type = "image";
    delete message.text;
    expect(normalizeWhatsAppNotification(image, options)).toMatchObject([
      { kind: "ignored", reason: "non_text", detail: "image" },
    ]);
    expect(normalizeWhatsAppNotification({ object: "page", entry: [] }, options)).toMatchObject([{ reason: "other_object" }]);
    expect(
      normalizeWhatsAppNotification(
        { object: "whatsapp_business_account", entry: [{ id: "1", changes: [{ field: "account_update", value: {} }] }] },
        options,
      ),
    ).toMatchObject([{ reason: "unsupported_field", detail: "account_update" }]);
  });

  it("does not answer a message written more than 24 hours ago (Meta retries for days): no reply could reach the customer", () => {
    const late = whatsappTextNotification({
      phoneNumberId: NUMBER,
      displayPhoneNumber: "1",
      from: "2",
      text: "still there?",
      timestamp: options.now() - 24 * 60 * 60_000 - 1_000,
    }).body;
    expect(normalizeWhatsAppNotification(late, options)).toMatchObject([{ kind: "ignored", reason: "outside_window" }]);
  });

  it("refuses a notification that is not the Cloud API's shape", () => {
    expect(() => normalizeWhatsAppNotification({ entry: "x" }, options)).toThrow(MessageValidationError);
    expect(() =>
      normalizeWhatsAppNotification(
        { object: "whatsapp_business_account", entry: [{ id: "1", changes: [{ field: "messages", value: {} }] }] },
        options,
      ),
    ).toThrow(MessageValidationError);
  });
});
