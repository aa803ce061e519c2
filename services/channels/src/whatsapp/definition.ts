import { type ChannelDefinition, plainText } from "../definition.ts";

/**
 * A WhatsApp connection's webhook: Meta's verification handshake (GET) and the Cloud API's
 * notifications (POST, signed with the app secret) both arrive here.
 */
export const WHATSAPP_CONNECTION_ROUTE = "/webhooks/whatsapp/:connectionId";

/**
 * Keys a WhatsApp channel's credentials Secret holds: the Cloud API access token (a system user's
 * token with whatsapp_business_messaging), the Meta app's secret (signs every notification) and
 * the verify token of your choosing (typed into the app's webhook settings for the handshake).
 */
export const WHATSAPP_SECRET_KEYS = ["accessToken", "appSecret", "verifyToken"] as const;

/**
 * WhatsApp Cloud API: Meta's webhook in, the Graph API's messages endpoint replying to the
 * message out.
 *
 * The external id is the business phone number's id (the Cloud API's `phone_number_id`, not the
 * number itself): it names the sender of replies and is what every notification's
 * `metadata.phone_number_id` carries, so a notification for another number of the same Meta app
 * is never taken for this connection's.
 */
export const whatsappChannel = {
  type: "whatsapp",
  summary: "a WhatsApp Business number on Meta's Cloud API: webhook notifications in, Graph API messages replying out",
  externalId: {
    description:
      "the business phone number's id in the Cloud API (phone_number_id, from WhatsApp Manager's API setup), such as 106540352242922",
    pattern: "^[1-9][0-9]{4,24}$",
    patternMessage:
      "a whatsapp channel's externalId is the phone number id of the Cloud API (digits, e.g. 106540352242922), not the phone number",
  },
  credentials: { required: WHATSAPP_SECRET_KEYS, optional: [] },
  specFields: {},
  settings: () => ({}),
  connectionRoute: WHATSAPP_CONNECTION_ROUTE,
  // WhatsApp has no mention syntax in a one-to-one chat.
  questionText: plainText,
  gateway: async () => (await import("./gateway.ts")).createWhatsAppChannel,
} as const satisfies ChannelDefinition;
