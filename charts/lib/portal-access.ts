import {
  PORTAL_AGENT_EDITOR_CLUSTER_ROLE,
  PORTAL_AGENT_EDITOR_RULES,
  PORTAL_AGENT_VIEWER_CLUSTER_ROLE,
  PORTAL_AGENT_VIEWER_RULES,
  portalImpersonationPolicy,
  portalTenantPolicy,
} from "@konstruct/operator";
import { ApiObject } from "cdk8s";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { labels } from "./labels.ts";
import { toKube } from "./operator.ts";
import type { Values } from "./values.ts";

/**
 * What the cluster needs so the portal acts only as its people: the two ClusterRoles the
 * operator binds in each tenant namespace for the portal's identities (agents to edit, agents to
 * read), and the admission policies RBAC cannot express — a portal identity changes nothing of
 * its Tenant but allowed origins, and the impersonation grant names only portal identities and
 * is bound only to the portal's ServiceAccount. The per-Tenant objects and the grant itself are
 * the operator's (operator/src/tenant/tenant-portal-access.ts).
 */
export class PortalAccess extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const metadata = (name: string) => ({ name, labels: labels("operator") });
    new k8s.KubeClusterRole(this, "agent-editor", {
      metadata: metadata(PORTAL_AGENT_EDITOR_CLUSTER_ROLE),
      rules: toKube(PORTAL_AGENT_EDITOR_RULES),
    });
    new k8s.KubeClusterRole(this, "agent-viewer", {
      metadata: metadata(PORTAL_AGENT_VIEWER_CLUSTER_ROLE),
      rules: toKube(PORTAL_AGENT_VIEWER_RULES),
    });
    const policies = [
      ...portalTenantPolicy(),
      ...portalImpersonationPolicy({ namespace: values.namespace, name: values.operator.portalServiceAccount }),
    ];
    for (const o of policies) {
      new ApiObject(this, `${o.kind}-${o.metadata.name}`, {
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...labels("operator") } },
        spec: o.spec,
      });
    }
  }
}
