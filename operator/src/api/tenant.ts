import { CHANNEL_TYPES, CHANNELS, type ChannelDefinition } from "@konstruct/channels";
// The light entry point: the charts import this file, and @konstruct/core's index loads pg, NATS and fastify.
import { UUID_PATTERN } from "@konstruct/core/ids";
import { type Static, Type } from "@sinclair/typebox";
import { TENANT_LIMIT_DEFAULTS } from "./defaults.ts";
import { API_VERSION } from "./group.ts";
import { NOT_RESERVED_NAMESPACE_RULE, RESERVED_NAMESPACE_PREFIXES, RESERVED_NAMESPACES } from "./namespaces.ts";
import { OWNER_INVITATION_DAYS, PORTAL_EMAIL_MAX_LENGTH, PORTAL_EMAIL_PATTERN, PORTAL_INVITATIONS_SECRET } from "./portal.ts";
import { type CelRule, Condition, DNS_LABEL, StringEnum, withRules } from "./schema-helpers.ts";

export { API_VERSION, GROUP, VERSION } from "./group.ts";

/** Channel types a Tenant can connect: every module of `@konstruct/channels`. */
export const TENANT_CHANNEL_TYPES = CHANNEL_TYPES;

const SecretRef = Type.Object(
  {
    name: Type.String({
      description:
        "Name of a Secret in the tenant namespace holding the channel's credentials: " +
        CHANNELS.map((c) => `for ${c.type} channels ${describeKeys(c)}`).join("; ") +
        ".",
      pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
      maxLength: 253,
    }),
  },
  { description: "A Secret in the tenant namespace holding the channel's credentials." },
);

function describeKeys(c: ChannelDefinition): string {
  const keys = (list: readonly string[]) => list.map((k) => `\`${k}\``).join(" and ");
  if (c.credentials.required.length > 0) return `it must hold the keys ${keys(c.credentials.required)}`;
  if (c.credentials.optional.length > 0) return `it is optional and may hold ${keys(c.credentials.optional)}`;
  return "it is not used";
}

/** The CEL rules each channel's definition implies: required credentials, its id's shape, its own fields. */
function channelRules(c: ChannelDefinition): CelRule[] {
  const rules: CelRule[] = [];
  if (c.credentials.required.length > 0) {
    rules.push({
      rule: `self.type != '${c.type}' || has(self.credentialsSecretRef)${c.install === undefined ? "" : ` || (${c.install.when})`}`,
      message:
        `${c.type} channels need credentialsSecretRef naming a Secret with ${c.credentials.required.join(" and ")}` +
        (c.install === undefined ? "" : ", unless installed through the platform (install)"),
      fieldPath: ".credentialsSecretRef",
      reason: "FieldValueRequired",
    });
  }
  if (c.install !== undefined) {
    // The installation writes the credentials; a Secret as well would leave two owners of one token.
    rules.push({
      rule: `self.type != '${c.type}' || !(${c.install.when}) || !has(self.credentialsSecretRef)`,
      message: `a ${c.type} channel installed through the platform takes no credentialsSecretRef: the installation stores its credentials`,
      fieldPath: ".credentialsSecretRef",
      reason: "FieldValueForbidden",
    });
  }
  if (c.externalId.pattern !== undefined) {
    rules.push({
      rule: `self.type != '${c.type}' || self.externalId.matches('${c.externalId.pattern}')`,
      message: c.externalId.patternMessage ?? `a ${c.type} channel's externalId is ${c.externalId.description}`,
      fieldPath: ".externalId",
    });
  }
  for (const field of Object.keys(c.specFields)) {
    rules.push({
      rule: `self.type == '${c.type}' || !has(self.${field})`,
      message: `${field} applies only to ${c.type} channels`,
      fieldPath: `.${field}`,
      reason: "FieldValueForbidden",
    });
  }
  return rules;
}

/** Fields only some channel types take, each optional in the schema and forbidden elsewhere by a rule. */
const channelSpecFields = Object.fromEntries(
  CHANNELS.flatMap((c) => Object.entries(c.specFields).map(([name, schema]) => [name, Type.Optional(schema)])),
);

export const TenantChannelSpec = withRules(
  Type.Object(
    {
      name: Type.String({
        description: "Name of the channel, unique within the tenant; Agents refer to channels by this name.",
        pattern: DNS_LABEL,
        maxLength: 63,
      }),
      type: StringEnum(TENANT_CHANNEL_TYPES, {
        description: `Kind of channel: ${CHANNELS.map((c) => `\`${c.type}\` (${c.summary})`).join(", ")}.`,
      }),
      externalId: Type.String({
        description:
          `The channel's own id: ${CHANNELS.map((c) => `for ${c.type}, ${c.externalId.description}`).join("; ")}. ` +
          "Unique across the installation per channel type.",
        pattern: "^[A-Za-z0-9._-]+$",
        minLength: 1,
        maxLength: 256,
      }),
      credentialsSecretRef: Type.Optional(SecretRef),
      ...channelSpecFields,
    },
    { description: "A channel the tenant's people use to reach its agents." },
  ),
  CHANNELS.flatMap(channelRules),
);

const Admin = Type.Object(
  {
    kind: StringEnum(["User", "Group"] as const, { description: "Whether `name` is a user or a group." }),
    name: Type.String({
      description: "The user or group name as the cluster's authenticator reports it.",
      minLength: 1,
      maxLength: 253,
    }),
  },
  { description: "A user or group bound to edit Agents and Secrets in the tenant namespace." },
);

const Owner = Type.Object(
  {
    email: Type.String({
      description: "The owner's email address: the name they sign in to the portal with.",
      pattern: PORTAL_EMAIL_PATTERN,
      minLength: 3,
      maxLength: PORTAL_EMAIL_MAX_LENGTH,
    }),
  },
  { description: "A first owner of the tenant's portal." },
);

const Limits = Type.Object(
  {
    messagesPerMinute: Type.Optional(
      Type.Integer({
        description: "Inbound messages handled per minute before rate limiting.",
        minimum: 1,
        maximum: 100000,
        default: TENANT_LIMIT_DEFAULTS.messagesPerMinute,
      }),
    ),
    maxConcurrentRuns: Type.Optional(
      Type.Integer({
        description: "Agent runs in flight at once for this tenant.",
        minimum: 1,
        maximum: 1000,
        default: TENANT_LIMIT_DEFAULTS.maxConcurrentRuns,
      }),
    ),
    tokensPerDay: Type.Optional(
      Type.Integer({
        description: "LLM tokens the tenant may use per day.",
        minimum: 1,
        maximum: 2000000000,
        default: TENANT_LIMIT_DEFAULTS.tokensPerDay,
      }),
    ),
  },
  { description: "Usage limits the router and orchestrator enforce.", default: {} },
);

export const TenantSpec = withRules(
  Type.Object(
    {
      displayName: Type.String({ description: "Human-readable name of the customer.", minLength: 1, maxLength: 200 }),
      namespace: Type.Optional(
        Type.String({
          description:
            "Namespace holding the tenant's Agents and Secrets. Defaults to konstruct-<name>. Immutable. " +
            "The operator creates it, or adopts an existing one only when it is labelled konstruct.io/tenant=<this Tenant's name>; " +
            `never ${RESERVED_NAMESPACES.join(", ")}, ${RESERVED_NAMESPACE_PREFIXES.map((p) => `${p}*`).join(", ")} or the operator's own namespace.`,
          pattern: DNS_LABEL,
          maxLength: 63,
          "x-kubernetes-validations": [
            { rule: "self == oldSelf", message: "namespace is immutable" },
            {
              rule: NOT_RESERVED_NAMESPACE_RULE,
              message: `${[...RESERVED_NAMESPACES, ...RESERVED_NAMESPACE_PREFIXES.map((p) => `${p}*`)].join(" and ")} belong to Kubernetes and cannot be a tenant's namespace; choose another`,
            },
          ],
        }),
      ),
      tenantId: Type.Optional(
        Type.String({
          description:
            "Tenant id (UUID) to use instead of metadata.uid: set it to adopt the data a Tenant deleted with " +
            "reclaimPolicy Retain left behind. Immutable. The id of another live Tenant is refused (TenantIdInUse).",
          pattern: UUID_PATTERN,
          maxLength: 36,
          "x-kubernetes-validations": [{ rule: "self == oldSelf", message: "tenantId is immutable" }],
        }),
      ),
      reclaimPolicy: StringEnum(["Delete", "Retain"] as const, {
        description:
          "What deleting the Tenant does to its data. Delete drops the database role, Redis user, rows and the namespace; " +
          "Retain (the default, as for PersistentVolumes holding customer data) keeps them all.",
        default: "Retain",
      }),
      limits: Type.Optional(Limits),
      channels: Type.Optional(
        Type.Array(TenantChannelSpec, {
          description: "Channels (Slack workspaces, web chats) connected to this tenant.",
          maxItems: 64,
          "x-kubernetes-list-type": "map",
          "x-kubernetes-list-map-keys": ["name"],
        }),
      ),
      admins: Type.Optional(
        Type.Array(Admin, {
          description:
            "Users and groups bound (RoleBinding konstruct-tenant-admins) to edit Agents and Secrets in the tenant namespace.",
          maxItems: 64,
        }),
      ),
      owners: Type.Optional(
        withRules(
          Type.Array(Owner, {
            description:
              "The tenant's first portal owners. Each one without a portal account gets a one-time invitation link, valid " +
              `${OWNER_INVITATION_DAYS} days and re-issued when it expires, kept in the Secret ${PORTAL_INVITATIONS_SECRET} of the ` +
              "tenant namespace (one key per email) until it is accepted; nothing is e-mailed. Owners invite everyone else in the portal.",
            maxItems: 16,
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["email"],
          }),
          [
            {
              // Portal accounts are unique by lower-cased email.
              rule: "self.all(a, self.exists_one(b, b.email.lowerAscii() == a.email.lowerAscii()))",
              // No reason: FieldValueDuplicate would show "Duplicate value" without this message.
              message: "owners must differ in more than letter case",
            },
          ],
        ),
      ),
    },
    { description: "The desired state of a tenant." },
  ),
  [
    {
      rule: "has(self.namespace) == has(oldSelf.namespace)",
      message: "namespace is immutable: it cannot be added or removed after creation",
      fieldPath: ".namespace",
    },
    {
      rule: "has(self.tenantId) == has(oldSelf.tenantId)",
      message: "tenantId is immutable: it cannot be added or removed after creation",
      fieldPath: ".tenantId",
    },
  ],
);

const ChannelStatus = Type.Object(
  {
    name: Type.String({ description: "The channel's name in spec.channels." }),
    type: Type.String({ description: "The channel type." }),
    connectionId: Type.Optional(Type.String({ description: "Id of the channel connection row." })),
    ready: Type.Boolean({ description: "Whether the connection is stored with its credentials." }),
    message: Type.Optional(Type.String({ description: "Why the channel is not ready." })),
    webhookPath: Type.Optional(
      Type.String({
        description: `Path the gateway serves for this channel: ${CHANNELS.map((c) => c.connectionRoute.replace(":connectionId", "<id>")).join(" or ")}.`,
      }),
    ),
    installPath: Type.Optional(
      Type.String({
        description:
          "For a channel installed through the platform (install: oauth): the gateway path that starts the installation; " +
          "open https://<gateway host><installPath> as an admin of the workspace named by externalId.",
      }),
    ),
    installed: Type.Optional(
      Type.Boolean({ description: "For a channel installed through the platform: whether an installation is stored." }),
    ),
  },
  { description: "The state of one channel." },
);

export const TenantStatus = Type.Object(
  {
    tenantId: Type.Optional(Type.String({ description: "The tenant id (UUID) used in rows, Redis keys and NATS subjects." })),
    namespace: Type.Optional(Type.String({ description: "The tenant namespace." })),
    observedGeneration: Type.Optional(Type.Integer({ description: "The .metadata.generation last reconciled." })),
    conditions: Type.Optional(
      Type.Array(Condition, {
        description:
          "Ready, NamespaceReady, DatabaseReady, RedisReady, ChannelsReady, PortalAccessReady (the portal identities' rights) " +
          "and OwnersInvited (how many of spec.owners joined the portal, how many are invited).",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    ),
    databaseSecret: Type.Optional(Type.String({ description: "Secret in the tenant namespace with the PostgreSQL login." })),
    redisSecret: Type.Optional(Type.String({ description: "Secret in the tenant namespace with the Redis login." })),
    channels: Type.Optional(Type.Array(ChannelStatus, { description: "Each channel's state and webhook path." })),
  },
  { description: "The observed state of a tenant." },
);

/** Metadata fields the operator reads. */
export const ObjectMeta = Type.Object(
  {
    name: Type.String(),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    resourceVersion: Type.Optional(Type.String()),
    deletionTimestamp: Type.Optional(Type.String()),
    finalizers: Type.Optional(Type.Array(Type.String())),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: true },
);

export const Tenant = withRules(
  Type.Object(
    {
      apiVersion: Type.Literal(API_VERSION),
      kind: Type.Literal("Tenant"),
      metadata: ObjectMeta,
      spec: TenantSpec,
      status: Type.Optional(TenantStatus),
    },
    {
      description:
        "A Konstruct customer: its namespace, PostgreSQL role, Redis user and channels. Cluster-scoped; status.tenantId is its id everywhere.",
    },
  ),
  [
    {
      rule: "has(self.spec.namespace) || self.metadata.name.size() <= 53",
      message:
        "metadata.name: Tenant names are at most 53 characters unless spec.namespace is set, so konstruct-<name> is a valid namespace",
    },
  ],
);

export type TenantChannelSpec = Static<typeof TenantChannelSpec>;
export type TenantSpec = Static<typeof TenantSpec>;
export type TenantStatus = Static<typeof TenantStatus>;
export type Tenant = Static<typeof Tenant>;
export type ObjectMeta = Static<typeof ObjectMeta>;
export type TenantChannelStatus = Static<typeof ChannelStatus>;
