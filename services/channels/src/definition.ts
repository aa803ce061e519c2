import type { TSchema } from "@sinclair/typebox";
import type { ChannelFactory } from "./gateway-channel.ts";

/**
 * What the platform knows about one kind of channel, in one place. The operator derives the
 * Tenant CRD's channel schema and rules, the credential check and the webhook paths from it;
 * the gateway mounts its routes and sender (see `gateway.ts`); lists and enums everywhere else
 * derive from {@link CHANNELS}. Definitions are plain data and small functions, so the operator
 * can import them without the gateway's HTTP stack.
 */
export interface ChannelDefinition {
  /** `Tenant.spec.channels[].type`, the `konstruct.inbound.<type>` subject token, `KonstructMessage.channelType`. */
  type: string;
  /** What the channel is, for `kubectl explain`. */
  summary: string;
  externalId: {
    /** What the channel's own id is for this type (e.g. Slack's team id). */
    description: string;
    /** A pattern the API server enforces for this type (a CEL rule); the spec's generic pattern applies regardless. */
    pattern?: string;
    /** The message when `pattern` does not match. */
    patternMessage?: string;
  };
  credentials: {
    /** Keys the referenced Secret must hold; non-empty means `credentialsSecretRef` is required. */
    required: readonly string[];
    /** Keys read when present. */
    optional: readonly string[];
  };
  /**
   * Connections whose credentials come from the platform's own installation flow (Slack's
   * "Add to Slack") instead of a Secret, when the spec entry asks for it. Such an entry needs no
   * `credentialsSecretRef` (and may not have one); the operator keeps the credentials the
   * installation stored instead of overwriting them from a Secret.
   */
  install?: {
    /** A CEL expression over the spec entry (`self`), true when this entry is installed by the flow. */
    when: string;
    /** The same test in code, for the operator. */
    applies(spec: Readonly<Record<string, unknown>>): boolean;
    /** The route that starts an installation of one connection, with `:connectionId`. */
    route: string;
  };
  /** Fields of a spec entry that only this type takes (the CRD forbids them on other types). */
  specFields: Readonly<Record<string, TSchema>>;
  /** The connection's stored settings, from its spec entry (already validated by the API server). */
  settings(spec: Readonly<Record<string, unknown>>): Record<string, unknown>;
  /** The route of one connection, with `:connectionId` where the connection's id goes. */
  connectionRoute: string;
  /** Text for the model: the message without the channel's own mention of the bot. */
  questionText(text: string, botUserId: string | null): string;
  /**
   * The reply is shown while the model writes it (the orchestrator publishes its deltas on
   * `konstruct.stream.<tenantId>.<type>`). Only for a channel whose reader holds a live
   * connection to the gateway; channels that post through a service API (Slack, Telegram…) post
   * once, complete (README, "Replies as they are written").
   */
  streamsReplies?: boolean;
  /**
   * Checks the values of the credentials (their presence is checked from `credentials`): each
   * problem as a sentence saying what to fix, never echoing a value. The operator refuses a
   * Secret with problems before storing it.
   */
  checkCredentials?(credentials: Readonly<Record<string, string>>): string[];
  /**
   * Where the channel's service API is, for the operator's {@link connect}/{@link disconnect}
   * calls: the variable that overrides it (tests point it at a double) and its public default.
   */
  api?: { variable: string; defaultUrl: string };
  /**
   * Registers the connection with the channel's service, e.g. Telegram's `setWebhook` with the
   * connection's public URL and secret. The operator calls it when the connection is created or
   * its URL or credentials change; it must be idempotent. Throws {@link ChannelHookError}.
   */
  connect?(context: ConnectionContext): Promise<void>;
  /**
   * Removes what {@link connect} registered, when the channel or its Tenant is deleted. Must
   * tolerate what is already gone. Throws {@link ChannelHookError} with `retryable` when a later
   * attempt may succeed; the operator gives up on the others (a revoked token has nothing to remove).
   */
  disconnect?(context: ConnectionContext): Promise<void>;
  /**
   * The gateway's side of the channel (routes and sender), imported only when the gateway asks,
   * so the operator and the other services never load a channel's HTTP stack.
   */
  gateway(): Promise<ChannelFactory>;
}

/** What the operator hands a channel's {@link ChannelDefinition.connect} and `disconnect`. */
export interface ConnectionContext {
  connectionId: string;
  externalId: string;
  /** The connection's credentials, only the keys the channel declares. Never logged. */
  credentials: Readonly<Record<string, string>>;
  /** Where the platform serves the connection publicly: the public base URL and the connection's path. */
  publicUrl: string;
  /** The service's API base URL: the configured override or the channel's default. */
  apiUrl: string;
}

/** A connect or disconnect call the channel's service refused or did not answer. */
export class ChannelHookError extends Error {
  /** CamelCase reason for the Tenant's condition, e.g. `WebhookRegistrationFailed`. */
  readonly reason: string;
  /** True when trying again later may succeed (network, 5xx, 429); false when the service refused for good. */
  readonly retryable: boolean;

  constructor(reason: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ChannelHookError";
    this.reason = reason;
    this.retryable = options.retryable;
  }
}

/** A channel's path for one connection, from its route. */
export function connectionPath(definition: Pick<ChannelDefinition, "connectionRoute">, connectionId: string): string {
  return definition.connectionRoute.replace(":connectionId", connectionId);
}

/** Identity for channels whose text carries no bot mention syntax. */
export const plainText = (text: string): string => text.trim();
