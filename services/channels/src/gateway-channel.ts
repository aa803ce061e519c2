import type { ChannelType, Database, Disposition, OutboundReply, SecretKey } from "@konstruct/core";
import type { FastifyPluginAsync } from "fastify";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { ChannelMetrics, InboundPublisher } from "./host.ts";
import type { ReplyLedger } from "./reply-ledger.ts";

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

/** What every channel may use; each takes what it needs. */
export interface ChannelDeps {
  /** The app-role database (connections through `withTenant`). */
  db: Kysely<Database>;
  secretKey: SecretKey;
  publisher: InboundPublisher;
  /** The shared Redis client (web chat: conversations, visitor rate limits; it duplicates it for blocking reads). */
  redis: Redis;
  ledger: ReplyLedger;
  metrics: ChannelMetrics;
  log: Logger;
  settings: {
    slackSigningSecret: string;
    slackApiUrl: string;
    /** Telegram Bot API base URL (`TELEGRAM_API_URL`); the public one when absent. */
    telegramApiUrl?: string | undefined;
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

/** Builds a channel from the shared dependencies. */
export type ChannelFactory = (deps: ChannelDeps) => Channel;
