// The operator's public surface. Everything exported here is side-effect free and light to
// import: the cdk8s charts read the CRDs and RBAC rules from it without starting anything.
export { Agent, AgentSpec, AgentStatus } from "./api/agent.ts";
export type { CustomResourceDefinition } from "./api/crds.ts";
export { agentCrd, crds, tenantCrd, toStructural } from "./api/crds.ts";
export { AGENT_DEFAULTS, HISTORY_RETENTION_DAYS, TENANT_LIMIT_DEFAULTS } from "./api/defaults.ts";
export { OPERATOR_NODE_OPTIONS } from "./api/deployment.ts";
export { DEFAULT_INSTALL_NAMESPACE } from "./api/namespaces.ts";
export type { PortalIdentityRole } from "./api/portal.ts";
export {
  DEFAULT_PORTAL_PUBLIC_URL,
  DEFAULT_PORTAL_SERVICE_ACCOUNT,
  invitationLink,
  invitationSecretKey,
  invitationToken,
  OWNER_INVITATION_DAYS,
  PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
  PORTAL_AGENT_EDITOR_RULES,
  PORTAL_AGENT_VIEWER_CLUSTER_ROLE,
  PORTAL_AGENT_VIEWER_RULES,
  PORTAL_EDITORS_ROLE_BINDING,
  PORTAL_FIELD_MANAGER,
  PORTAL_IDENTITY_PREFIX,
  PORTAL_IDENTITY_ROLES,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
  PORTAL_INVITATIONS_SECRET,
  PORTAL_VIEWERS_ROLE_BINDING,
  portalIdentities,
  portalIdentity,
  portalTenantClusterRole,
} from "./api/portal.ts";
export type { AdmissionObject } from "./api/portal-admission.ts";
export {
  PORTAL_EDITABLE_CHANNEL_FIELDS,
  PORTAL_IMPERSONATION_POLICY,
  PORTAL_TENANT_POLICY,
  portalImpersonationPolicy,
  portalTenantPolicy,
} from "./api/portal-admission.ts";
export type { PolicyRule } from "./api/rbac.ts";
export { OPERATOR_RBAC_RULES, TENANT_ADMIN_CLUSTER_ROLE, TENANT_ADMIN_RULES } from "./api/rbac.ts";
export type { CelRule } from "./api/schema-helpers.ts";
export { Condition } from "./api/schema-helpers.ts";
export type { ObjectMeta, TenantChannelSpec, TenantChannelStatus } from "./api/tenant.ts";
export {
  API_VERSION,
  GROUP,
  TENANT_CHANNEL_TYPES,
  Tenant,
  TenantSpec,
  TenantStatus,
  VERSION,
} from "./api/tenant.ts";
