import { Type } from "@sinclair/typebox";
import { type ChannelDefinition, plainText } from "../definition.ts";

/** The web chat page of one connection; its API lives beneath it. */
export const WEBCHAT_CONNECTION_ROUTE = "/webchat/:connectionId/";

/** The web chat: a page and an HTTP API served by the gateway, replies as server-sent events. */
export const webchatChannel = {
  type: "webchat",
  summary: "a chat page served by the gateway, embeddable on the tenant's sites",
  externalId: { description: "a public id of the tenant's choosing" },
  credentials: { required: [], optional: ["signingSecret"] },
  specFields: {
    allowedOrigins: Type.Array(
      Type.String({
        description: "An origin such as https://example.com or http://localhost:3000: a scheme, a host and an optional port.",
        // Only what an origin can be: it ends up in the page's Content-Security-Policy, where
        // `*`, `;` or a space would widen or break the policy.
        pattern:
          "^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?$",
        maxLength: 2048,
      }),
      {
        description: "webchat only: origins allowed to embed the chat and call its API.",
        maxItems: 32,
        "x-kubernetes-list-type": "set",
      },
    ),
  },
  settings: (spec) => ({ allowedOrigins: Array.isArray(spec.allowedOrigins) ? spec.allowedOrigins : [] }),
  connectionRoute: WEBCHAT_CONNECTION_ROUTE,
  questionText: plainText,
  streamsReplies: true,
  gateway: async () => (await import("./gateway.ts")).createWebchatChannel,
} as const satisfies ChannelDefinition;
