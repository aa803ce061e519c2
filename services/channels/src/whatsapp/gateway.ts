import type { Channel, ChannelDeps } from "../gateway-channel.ts";
import { channelReplyDelivery } from "../reply-protocol.ts";
import { createWhatsAppConnectionStore, type WhatsAppConnectionStore } from "./connections.ts";
import { whatsappIngress } from "./ingress.ts";
import { createWhatsAppSender } from "./sender.ts";

/** The Graph API's public base URL (with the version Konstruct speaks), when `WHATSAPP_API_URL` is not set. */
export const DEFAULT_WHATSAPP_API_URL = "https://graph.facebook.com/v23.0";

/** The WhatsApp channel: webhook notifications in, Graph API messages out, one connection cache for both. */
export function createWhatsAppChannel(deps: ChannelDeps, overrides: { connections?: WhatsAppConnectionStore } = {}): Channel {
  const connections = overrides.connections ?? createWhatsAppConnectionStore({ db: deps.db, secretKey: deps.secretKey });
  const apiUrl = deps.settings.whatsappApiUrl ?? DEFAULT_WHATSAPP_API_URL;
  return {
    type: "whatsapp",
    plugin: async (app) => {
      await app.register(whatsappIngress, { publisher: deps.publisher, connections, metrics: deps.metrics, log: deps.log });
    },
    outbound: channelReplyDelivery(createWhatsAppSender({ connections, apiUrl }), deps),
  };
}
