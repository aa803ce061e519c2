import { GROUP } from "./group.ts";
import type { PolicyRule } from "./rbac.ts";

/**
 * The names the portal, the operator and the charts share (issue 12's contract). The portal
 * acts on the Kubernetes API as one of three users per Tenant, by impersonation; the operator
 * creates what those users may do; the chart lets the portal's ServiceAccount impersonate
 * nothing else and refuses any Tenant change by them but allowed origins.
 */

/** The portal roles whose Kubernetes identities the operator grants rights to, strongest first. */
export const PORTAL_IDENTITY_ROLES = ["owner", "admin", "member"] as const;
export type PortalIdentityRole = (typeof PORTAL_IDENTITY_ROLES)[number];

/** Prefix of every impersonated portal identity: `konstruct-portal:<tenant name>:<role>`. */
export const PORTAL_IDENTITY_PREFIX = "konstruct-portal:";

/** The Kubernetes user name the portal impersonates for a person of `tenant` with `role`. */
export function portalIdentity(tenant: string, role: PortalIdentityRole): string {
  return `${PORTAL_IDENTITY_PREFIX}${tenant}:${role}`;
}

/** The three identities of one Tenant, in PORTAL_IDENTITY_ROLES order. */
export function portalIdentities(tenant: string): string[] {
  return PORTAL_IDENTITY_ROLES.map((role) => portalIdentity(tenant, role));
}

/** The portal's ServiceAccount in the install namespace (operator config PORTAL_SERVICE_ACCOUNT). */
export const DEFAULT_PORTAL_SERVICE_ACCOUNT = "konstruct-portal";

/** The portal's address in `npm start` (KONSTRUCT_PORTAL_PORT, 8084); the chart sets the real one. */
export const DEFAULT_PORTAL_PUBLIC_URL = "http://127.0.0.1:8084";

/** Field manager of the portal's server-side applies. */
export const PORTAL_FIELD_MANAGER = "konstruct-portal";

/** Identities that may change agents (and their Tenant's allowed origins). */
export const PORTAL_EDITOR_ROLES: readonly PortalIdentityRole[] = ["owner", "admin"];
/** Identities that may only read. */
export const PORTAL_VIEWER_ROLES: readonly PortalIdentityRole[] = ["member"];

/** Shared ClusterRoles (created by the chart) the operator binds in each tenant namespace. */
export const PORTAL_AGENT_EDITOR_CLUSTER_ROLE = "konstruct-portal-agent-editor";
export const PORTAL_AGENT_VIEWER_CLUSTER_ROLE = "konstruct-portal-agent-viewer";

/** What owners and admins may do in their tenant namespace: Agents, and nothing else (no Secrets). */
export const PORTAL_AGENT_EDITOR_RULES: readonly PolicyRule[] = [
  { apiGroups: [GROUP], resources: ["agents"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
];
/** What members may do in their tenant namespace: read Agents. */
export const PORTAL_AGENT_VIEWER_RULES: readonly PolicyRule[] = [
  { apiGroups: [GROUP], resources: ["agents"], verbs: ["get", "list", "watch"] },
];

/** RoleBindings in the tenant namespace, to the two shared ClusterRoles. */
export const PORTAL_EDITORS_ROLE_BINDING = "konstruct-portal-editors";
export const PORTAL_VIEWERS_ROLE_BINDING = "konstruct-portal-viewers";

/**
 * Per-Tenant ClusterRole (and ClusterRoleBinding of the same name, to all three identities) on
 * that one Tenant object. One of each, not an editor and a viewer pair: the API server's RBAC
 * authorizer walks every ClusterRoleBinding for each request of every identity outside
 * system:masters, so each binding per Tenant slows the whole cluster (a GET took 4.0 ms with
 * none, 5.2 ms with 10,000, 7.8 ms with 20,000 on the test control plane). That members only
 * read is the admission policy's rule (portal-admission.ts), as the fields editors may change are.
 */
export function portalTenantClusterRole(tenant: string): string {
  return `${PORTAL_IDENTITY_PREFIX}${tenant}`;
}

/** The editor and viewer pairs of earlier versions, removed when the operator meets them. */
export function legacyPortalTenantClusterRoles(tenant: string): string[] {
  return [`${PORTAL_IDENTITY_PREFIX}${tenant}:editor`, `${PORTAL_IDENTITY_PREFIX}${tenant}:viewer`];
}

/** The rules of a Tenant's ClusterRole: read and patch its own Tenant object only. */
export function portalTenantRules(tenant: string): PolicyRule[] {
  return [{ apiGroups: [GROUP], resources: ["tenants"], verbs: ["get", "patch"], resourceNames: [tenant] }];
}

/**
 * The one ClusterRole that lets the portal's ServiceAccount impersonate: `impersonate` on
 * `users` with `resourceNames` = exactly the identities of the live Tenants, kept by the
 * operator; the chart binds it to the portal's ServiceAccount. One role with one name is what
 * lets the operator's own `escalate` be limited to it (see OPERATOR_RBAC_RULES).
 */
export const PORTAL_IMPERSONATION_CLUSTER_ROLE = "konstruct-portal-impersonation";

/**
 * The impersonation rules for `identities`. None when there are none: a rule with an empty
 * `resourceNames` would allow impersonating every user.
 */
export function portalImpersonationRules(identities: readonly string[]): PolicyRule[] {
  if (identities.length === 0) return [];
  return [{ apiGroups: [""], resources: ["users"], verbs: ["impersonate"], resourceNames: [...identities].sort() }];
}

/** The Secret in the tenant namespace holding each first owner's invitation link. */
export const PORTAL_INVITATIONS_SECRET = "konstruct-portal-invitations";

/** How long an invitation from `spec.owners` stays valid. */
export const OWNER_INVITATION_DAYS = 7;

/** The key of an owner's link in PORTAL_INVITATIONS_SECRET: `@` → `_at_`, anything outside [-._a-zA-Z0-9] → `_`. */
export function invitationSecretKey(email: string): string {
  return email.replaceAll("@", "_at_").replace(/[^-._a-zA-Z0-9]/g, "_");
}

/** Where the portal accepts an invitation: `<PORTAL_PUBLIC_URL>/portal/invitations/<token>`. */
export function invitationLink(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/portal/invitations/${token}`;
}

/** The token at the end of an invitation link, or null. */
export function invitationToken(link: string | undefined): string | null {
  const match = /\/portal\/invitations\/([A-Za-z0-9_-]+)$/.exec(link ?? "");
  return match?.[1] ?? null;
}

/**
 * The shape of an email portal_invitations accepts (its check in migration 0008, which is frozen
 * in time; this is the one live copy). The CRD refuses other strings in `spec.owners`.
 */
export const PORTAL_EMAIL_PATTERN = "^[^@\\s]+@[^@\\s]+$";
export const PORTAL_EMAIL_MAX_LENGTH = 320;
