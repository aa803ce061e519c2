export { fields, intField, LogLevel, parseConfig, portField, urlField } from "./config.ts";
export type { SecretKey } from "./crypto.ts";
export { decryptSecret, encryptSecret, parseSecretKey } from "./crypto.ts";
export type { ActivityUpdate, ActivityWriter, ChannelActivity } from "./db/channel-activity.ts";
export { ACTIVITY_ERROR_MAX, channelActivityWriter, createChannelActivity } from "./db/channel-activity.ts";
export type { ConfigChangeWatch } from "./db/config-changes.ts";
export { CONFIG_CHANNEL, watchConfigChanges } from "./db/config-changes.ts";
export type { DatabaseOptions } from "./db/connect.ts";
export { createDatabase } from "./db/connect.ts";
export type {
  AgentRecord,
  AgentsTable,
  AgentUpdate,
  ChannelActivityTable,
  ChannelConnectionRecord,
  ChannelConnectionsTable,
  ConversationDailyCountsTable,
  ConversationMessagesTable,
  ConversationsTable,
  Database,
  NewAgent,
  NewChannelConnection,
  NewTenant,
  PortalInvitationsTable,
  PortalRole,
  PortalSessionsTable,
  PortalUserRecord,
  PortalUsersTable,
  TenantOwnersTable,
  TenantRecord,
  TenantRolesTable,
  TenantsTable,
  TokenUsageTable,
} from "./db/types.ts";
export { TENANT_SCOPED_TABLES } from "./db/types.ts";
export type { ChannelRoute } from "./db/with-tenant.ts";
export { routeByConnectionId, routeByExternalId, withTenant } from "./db/with-tenant.ts";
export type { ErrorCode } from "./errors.ts";
export {
  ConfigError,
  CredentialsError,
  describe,
  KonstructError,
  MessageValidationError,
  RedisKeyError,
  SubjectError,
  TenantIdError,
} from "./errors.ts";
export { assertTenantId, isUuid, newId, UUID_PATTERN } from "./ids.ts";
export type { HttpComponent } from "./listen.ts";
export { HOST_VARIABLE, HTTP_PORTS, listenFields, PORT_VARIABLE, RENAMED_LISTEN_VARIABLES } from "./listen.ts";
export type { Logger } from "./logger.ts";
export { createLogger, redactUrl, scrubUrls, serializeError } from "./logger.ts";
export { Attachment, CHANNEL_TYPE_PATTERN, ChannelType, decodeMessage, KonstructMessage, parseMessage } from "./message.ts";
export type { NatsServers } from "./nats/connect.ts";
export { connectNats, parseNatsServers } from "./nats/connect.ts";
export type { Disposition, Handler, RunConsumerOptions, RunningConsumer } from "./nats/consume.ts";
export { ack, poison, publishJson, retry, retryDelay, runConsumer } from "./nats/consume.ts";
export { declareStreams } from "./nats/declare-streams.ts";
export type { NatsPermissions, NatsUser } from "./nats/permissions.ts";
export { inboxPrefix, NATS_PERMISSIONS, NATS_USERS, natsAuthorizationConfig, natsUrlFor } from "./nats/permissions.ts";
export type {
  ConsumerSpec,
  EnsureConsumersOptions,
  EnsureStreamsOptions,
  StreamDeclaration,
  StreamLimits,
} from "./nats/streams.ts";
export {
  CONSUMERS,
  ensureConsumers,
  ensureJetStream,
  ensureStreams,
  isStreamFull,
  outboundConsumer,
  STREAM_LIMITS,
  STREAM_NAMES,
} from "./nats/streams.ts";
export { hashPassword, verifyPassword } from "./passwords.ts";
export {
  decodeOutboundReply,
  decodeReplyDelta,
  decodeWorkItem,
  deliveryKey,
  OutboundReply,
  ReplyDelta,
  WorkItem,
} from "./pipeline.ts";
export { isPortalToken, newPortalToken, PORTAL_ROLES, portalTokenDigest } from "./portal-tokens.ts";
export type { RedisKeyType } from "./redis-keys.ts";
export {
  deleteKeysMatching,
  keyPart,
  REDIS_KEY_TYPES,
  redisChannel,
  redisKey,
  TENANT_WRITABLE_KEY_TYPES,
  tenantKeyPattern,
  tenantWritableKeyPatterns,
} from "./redis-keys.ts";
export type { RedisScript } from "./redis-script.ts";
export { redisScript } from "./redis-script.ts";
export type { Validator } from "./schema.ts";
export { compile } from "./schema.ts";
export { scramVerifier, verifierMatches } from "./scram.ts";
export type { ServiceConnections } from "./service/connect-service.ts";
export { connectService } from "./service/connect-service.ts";
export type { ConsumerLoopOptions } from "./service/consumer-loop.ts";
export { createConsumerLoop } from "./service/consumer-loop.ts";
export type { ConsumerService, ServeConsumerOptions } from "./service/consumer-service.ts";
export { serveConsumer } from "./service/consumer-service.ts";
export type { ReadinessCheck } from "./service/health-server.ts";
export { createHealthServer } from "./service/health-server.ts";
export type { ShutdownStep } from "./service/shutdown.ts";
export { onShutdown } from "./service/shutdown.ts";
export {
  deadLetterSubject,
  inboundSubject,
  outboundSubject,
  replyStreamSubject,
  replyStreamWildcard,
  STREAMS,
  SUBJECT_PREFIX,
  tenantOfReplyStream,
  workSubject,
} from "./subjects.ts";
