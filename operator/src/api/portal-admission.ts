import { GROUP } from "./group.ts";
import {
  PORTAL_EDITOR_ROLES,
  PORTAL_IDENTITY_PREFIX,
  PORTAL_IDENTITY_ROLES,
  PORTAL_IMPERSONATION_CLUSTER_ROLE,
} from "./portal.ts";
import { DNS_LABEL } from "./schema-helpers.ts";
import { TenantChannelSpec, TenantSpec } from "./tenant.ts";

/**
 * The admission policies that finish what RBAC cannot say (RBAC has no field-level rules):
 *
 * 1. A portal identity may patch its own Tenant (RBAC: `patch` with `resourceNames`), but only
 *    an owner or admin, and the only thing it may change is `spec.channels[*].allowedOrigins`:
 *    not the limits, namespace, tenant id, owners, admins, channel types, ids or Secrets, not
 *    labels, annotations, finalizers or owners of the object; it creates and deletes no Tenant.
 *    (A member holds the same RBAC as an editor on its Tenant, to keep one ClusterRoleBinding
 *    per Tenant: see portalTenantClusterRole.)
 * 2. The impersonation grant stays what the operator means it to be, even if the operator were
 *    compromised (it may `escalate` and `bind` that one role): its ClusterRole holds only
 *    `impersonate` on named portal identities, and the only binding to it is the one to the
 *    portal's ServiceAccount.
 *
 * Plain JSON (admissionregistration.k8s.io/v1, GA since Kubernetes 1.30), for the chart and the tests.
 */

/** The spec fields of a channel a portal owner or admin may change. */
export const PORTAL_EDITABLE_CHANNEL_FIELDS = ["allowedOrigins"] as const;

/** CEL: field `f` of `a` and `b` is equally present and, when present, equal. */
const same = (a: string, b: string, f: string) =>
  `(has(${a}.${f}) == has(${b}.${f}) && (!has(${a}.${f}) || ${a}.${f} == ${b}.${f}))`;

function fieldsOf(schema: unknown): string[] {
  return Object.keys((schema as { properties: Record<string, unknown> }).properties);
}

/** CEL: every spec field but channels unchanged; the same channels (by name) with only editable fields changed. */
export function portalTenantSpecRule(): string {
  const spec = fieldsOf(TenantSpec).filter((f) => f !== "channels");
  const channelFields = fieldsOf(TenantChannelSpec).filter(
    (f) => f !== "name" && !(PORTAL_EDITABLE_CHANNEL_FIELDS as readonly string[]).includes(f),
  );
  const fixedChannel = channelFields.map((f) => same("c", "o", f)).join(" && ");
  const channels =
    "has(object.spec.channels) == has(oldObject.spec.channels) && (!has(object.spec.channels) || (" +
    "object.spec.channels.size() == oldObject.spec.channels.size() && " +
    `object.spec.channels.all(c, oldObject.spec.channels.exists(o, o.name == c.name && ${fixedChannel}))))`;
  return [...spec.map((f) => same("object.spec", "oldObject.spec", f)), channels].join(" && ");
}

const METADATA_RULE = ["labels", "annotations", "finalizers", "ownerReferences"]
  .map((f) => same("object.metadata", "oldObject.metadata", f))
  .join(" && ");

const ADMISSION = "admissionregistration.k8s.io/v1";
export const PORTAL_TENANT_POLICY = "konstruct-portal-tenant-changes";
export const PORTAL_IMPERSONATION_POLICY = "konstruct-portal-impersonation";

/** A ValidatingAdmissionPolicy, or its binding, as plain JSON. */
export interface AdmissionObject {
  apiVersion: typeof ADMISSION;
  kind: "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding";
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

const binding = (policy: string): AdmissionObject => ({
  apiVersion: ADMISSION,
  kind: "ValidatingAdmissionPolicyBinding",
  metadata: { name: policy },
  spec: { policyName: policy, validationActions: ["Deny"] },
});

/** Policy 1: what a `konstruct-portal:` user may change of a Tenant. */
export function portalTenantPolicy(): AdmissionObject[] {
  return [
    {
      apiVersion: ADMISSION,
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: PORTAL_TENANT_POLICY },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [GROUP],
              apiVersions: ["*"],
              resources: ["tenants", "tenants/*"],
              operations: ["CREATE", "UPDATE", "DELETE"],
            },
          ],
        },
        matchConditions: [
          { name: "portal-identity", expression: `request.userInfo.username.startsWith('${PORTAL_IDENTITY_PREFIX}')` },
        ],
        validations: [
          {
            // subResource is absent, not empty, on the main resource.
            expression: "request.operation == 'UPDATE' && (!has(request.subResource) || request.subResource == '')",
            message: "the portal may not create or delete Tenants, nor write their status",
            reason: "Forbidden",
          },
          {
            expression: PORTAL_EDITOR_ROLES.map((role) => `request.userInfo.username.endsWith(':${role}')`).join(" || "),
            message: `only a portal ${PORTAL_EDITOR_ROLES.join(" or ")} may change a Tenant; members read it`,
            reason: "Forbidden",
          },
          {
            expression: portalTenantSpecRule(),
            message: `the portal may change only spec.channels[*].${PORTAL_EDITABLE_CHANNEL_FIELDS.join(", ")} of a Tenant`,
            reason: "Forbidden",
          },
          {
            expression: METADATA_RULE,
            message: "the portal may not change a Tenant's labels, annotations, finalizers or owner references",
            reason: "Forbidden",
          },
        ],
      },
    },
    binding(PORTAL_TENANT_POLICY),
  ];
}

/** Policy 2: the impersonation ClusterRole and its one binding, to `serviceAccount`. */
export function portalImpersonationPolicy(serviceAccount: { namespace: string; name: string }): AdmissionObject[] {
  const identity = `^${PORTAL_IDENTITY_PREFIX}${DNS_LABEL.slice(1, -1)}:(${PORTAL_IDENTITY_ROLES.join("|")})$`;
  const role = PORTAL_IMPERSONATION_CLUSTER_ROLE;
  return [
    {
      apiVersion: ADMISSION,
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: PORTAL_IMPERSONATION_POLICY },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ["rbac.authorization.k8s.io"],
              apiVersions: ["*"],
              resources: ["clusterroles", "clusterrolebindings", "rolebindings"],
              operations: ["CREATE", "UPDATE"],
            },
          ],
        },
        matchConditions: [
          {
            name: "impersonation-role-or-binding-to-it",
            expression:
              `(request.resource.resource == 'clusterroles' && object.metadata.name == '${role}') || ` +
              `(request.resource.resource != 'clusterroles' && (object.metadata.name == '${role}' || object.roleRef.name == '${role}'))`,
          },
        ],
        validations: [
          {
            expression:
              `request.resource.resource != 'clusterroles' || (!has(object.aggregationRule) && (!has(object.rules) || object.rules.all(r, ` +
              "has(r.apiGroups) && r.apiGroups == [''] && has(r.resources) && r.resources == ['users'] && r.verbs == ['impersonate'] && " +
              `has(r.resourceNames) && r.resourceNames.size() > 0 && r.resourceNames.all(n, n.matches('${identity}')))))`,
            message: `${role} may hold only impersonate on users named ${PORTAL_IDENTITY_PREFIX}<tenant>:<${PORTAL_IDENTITY_ROLES.join("|")}>`,
            reason: "Forbidden",
          },
          {
            expression:
              `request.resource.resource == 'clusterroles' || (request.resource.resource == 'clusterrolebindings' && ` +
              `object.metadata.name == '${role}' && object.roleRef.kind == 'ClusterRole' && object.roleRef.name == '${role}' && ` +
              `has(object.subjects) && object.subjects.size() == 1 && object.subjects[0].kind == 'ServiceAccount' && ` +
              `object.subjects[0].name == '${serviceAccount.name}' && object.subjects[0].namespace == '${serviceAccount.namespace}')`,
            message: `only the ClusterRoleBinding ${role}, to the portal's ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}, may bind ${role}`,
            reason: "Forbidden",
          },
        ],
      },
    },
    binding(PORTAL_IMPERSONATION_POLICY),
  ];
}
