import type { ChannelActivity, ChannelType, Database, Disposition, OutboundReply, SecretKey } from "@konstruct/core";
import type { FastifyPluginAsync } from "fastify";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { ChannelMetrics, InboundPublisher } from "./host.ts";
import type { ReplyLedger } from "./reply-ledger.ts";
import type { SlackOAuthSettings } from "./slack/install.ts";

/** One channel of the gateway: its webhook routes and its outbound handler. Adding a channel is one folder that builds this. */
export interface Channel {
  type: ChannelType;
  /** Its routes, registered as an encapsulated fastify plugin with its own body parser. */
  plugin: FastifyPluginAsync;
  /** Handles one reply from `konstruct.outbound.<type>`, already decoded and checked to be for this channel. */
  outbound: OutboundHandler;
}

/** Delivers one reply; `deliveryCount` is JetStream's count for this message (1 on the first try). */
export type OutboundHandler = (reply: OutboundReply, delivery: { deliveryCount: number }) => Promise<Disposition>;

/**
 * Core NATS subscriptions, for replies as they are written (`konstruct.stream.…`): the gateway
 * gives its connection through this, so a channel needs no NATS client of its own.
 */
export interface ReplyDeltaFeed {
  subscribe(subject: string, onMessage: (subject: string, data: Uint8Array) => void): { unsubscribe(): void };
}

/** What every channel may use; each takes what it needs. */
export interface ChannelDeps {
  /** The app-role database (connections through `withTenant`). */
  db: Kysely<Database>;
  secretKey: SecretKey;
  publisher: InboundPublisher;
  /** The shared Redis client (web chat: conversations, visitor rate limits; it duplicates it for blocking reads). */
  redis: Redis;
  ledger: ReplyLedger;
  /** Replies as they are written, for channels that show them live; without it they show when complete. */
  replyDeltas?: ReplyDeltaFeed;
  /** Notes each connection's delivery errors for the portal, throttled; absent in some tests. */
  activity?: ChannelActivity | undefined;
  metrics: ChannelMetrics;
  log: Logger;
  settings: {
    slackSigningSecret: string;
    slackApiUrl: string;
    /** Telegram Bot API base URL (`TELEGRAM_API_URL`); the public one when absent. */
    telegramApiUrl?: string | undefined;
    /** The shared Slack app's OAuth ("Add to Slack"); the install routes exist only when set. */
    slackOAuth?: SlackOAuthSettings | undefined;
    /** Microsoft Teams (Bot Framework) endpoints; the public ones when absent. */
    teams?: TeamsSettings;
    /** WhatsApp Graph API base URL with its version (`WHATSAPP_API_URL`); the public one when absent. */
    whatsappApiUrl?: string | undefined;
    /** Outbound: age after which a `pending` claim counts as a worker that died mid-post. */
    staleClaimMs?: number;
    /** Web chat session signing key (`WEBCHAT_SESSION_SECRET`); derived from the secret key when absent. */
    webchatSessionSecret?: string | undefined;
    /** The session secret before a rotation (`WEBCHAT_SESSION_PREVIOUS_SECRET`): verifies, never signs. */
    webchatPreviousSessionSecret?: string | undefined;
  };
}

/** Where the Teams channel verifies tokens, gets its own and may send replies (`TEAMS_*` settings). */
export interface TeamsSettings {
  /** The Bot Framework's OpenID metadata document (`jwks_uri`). */
  openIdMetadataUrl?: string | undefined;
  /** The issuer inbound tokens must name. */
  issuer?: string | undefined;
  /** Microsoft Entra's login host for client-credentials tokens. */
  loginUrl?: string | undefined;
  /** Origins replies may be posted to (`https://smba.trafficmanager.net`, `https://*.example.com`). */
  serviceUrls?: readonly string[] | undefined;
  /** The least time between two key set fetches caused by unknown key ids. */
  keysRefetchCooldownMs?: number | undefined;
}

/** Builds a channel from the shared dependencies. */
export type ChannelFactory = (deps: ChannelDeps) => Channel;
