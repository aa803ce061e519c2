import { PORT_VARIABLE } from "@konstruct/core/listen";
import {
  OPERATOR_NODE_OPTIONS,
  OPERATOR_RBAC_RULES,
  type PolicyRule,
  TENANT_ADMIN_CLUSTER_ROLE,
  TENANT_ADMIN_RULES,
} from "@konstruct/operator";
import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { connectionEnv } from "./install-secret.ts";
import { labels, nameOf, selectorLabels } from "./labels.ts";
import { waitForSchemaContainer } from "./migrations-job.ts";
import { httpProbes, KONSTRUCT_UID, konstructContainer, podSecurityContext, resources, TMP_MOUNT, TMP_VOLUME } from "./pod.ts";
import { installOrigin, type Values } from "./values.ts";

/**
 * Splits the operator's rules: Leases are needed only in the install namespace (leader
 * election), so they go into a namespaced Role instead of the ClusterRole.
 */
export function splitOperatorRules(rules: readonly PolicyRule[] = OPERATOR_RBAC_RULES): {
  cluster: PolicyRule[];
  leaderElection: PolicyRule[];
} {
  const isLease = (r: PolicyRule) => r.apiGroups.includes("coordination.k8s.io") && r.resources.includes("leases");
  return { cluster: rules.filter((r) => !isLease(r)), leaderElection: rules.filter(isLease) };
}

/** Where people reach the portal: the configured URL, else the install's domain. */
export function portalPublicUrl(values: Values): string {
  return values.operator.portalPublicUrl ?? installOrigin(values);
}

/**
 * Where the operator says channels' webhooks are (PUBLIC_BASE_URL): the value, else the Ingress's
 * host; none without either, and none when the value is empty.
 */
export function publicBaseUrlOf(values: Values): string | null {
  const configured = values.operator.publicBaseUrl;
  if (configured !== undefined) return configured === "" ? null : configured;
  return values.ingress.enabled ? installOrigin(values) : null;
}

function publicBaseUrlEnv(values: Values): k8s.EnvVar[] {
  const url = publicBaseUrlOf(values);
  return url === null ? [] : [{ name: "PUBLIC_BASE_URL", value: url }];
}

/** The operator's leader-election Lease, in the install namespace. */
export const LEASE_NAME = "konstruct-operator";

export const toKube = (rules: readonly PolicyRule[]): k8s.PolicyRule[] =>
  rules.map((r) => ({
    apiGroups: [...r.apiGroups],
    resources: [...r.resources],
    verbs: [...r.verbs],
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
  }));

/**
 * The operator: its ServiceAccount, the least-privilege ClusterRole whose rules the operator
 * package exports (one source with the code that needs them), a Role for its leader-election
 * Lease in the install namespace, the tenant-admin ClusterRole it binds tenant admins to, and
 * its Deployment.
 */
export class Operator extends Construct {
  readonly serviceAccountName = nameOf("operator");

  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const name = nameOf("operator");
    const ns = values.namespace;
    const metadata = { name, namespace: ns, labels: labels("operator") };
    const rules = splitOperatorRules();
    const subject = { kind: "ServiceAccount", name: this.serviceAccountName, namespace: ns };

    new k8s.KubeServiceAccount(this, "sa", { metadata, automountServiceAccountToken: true });
    new k8s.KubeClusterRole(this, "cluster-role", {
      metadata: { name, labels: labels("operator") },
      rules: toKube(rules.cluster),
    });
    new k8s.KubeClusterRoleBinding(this, "cluster-role-binding", {
      metadata: { name, labels: labels("operator") },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [subject],
    });
    new k8s.KubeRole(this, "leader-election-role", {
      metadata: { ...metadata, name: `${name}-leader-election` },
      rules: toKube(rules.leaderElection),
    });
    new k8s.KubeRoleBinding(this, "leader-election-binding", {
      metadata: { ...metadata, name: `${name}-leader-election` },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${name}-leader-election` },
      subjects: [subject],
    });
    new k8s.KubeClusterRole(this, "tenant-admin", {
      metadata: { name: TENANT_ADMIN_CLUSTER_ROLE, labels: labels("operator") },
      rules: toKube(TENANT_ADMIN_RULES),
    });

    const port = values.operator.healthPort;
    new k8s.KubeDeployment(this, "deployment", {
      metadata,
      spec: {
        replicas: values.operator.replicas,
        selector: { matchLabels: selectorLabels("operator") },
        template: {
          metadata: { labels: labels("operator") },
          spec: {
            serviceAccountName: this.serviceAccountName,
            securityContext: podSecurityContext(KONSTRUCT_UID),
            initContainers: [waitForSchemaContainer(values)],
            containers: [
              konstructContainer(values, "operator", "operator", {
                ports: [{ name: "health", containerPort: port, protocol: "TCP" }],
                env: [
                  ...connectionEnv(values, ["DATABASE_OPERATOR_URL", "REDIS_ADMIN_URL", "KONSTRUCT_SECRET_KEY", "LOG_LEVEL"]),
                  // The name operator/src/config.ts reads.
                  { name: PORT_VARIABLE, value: String(port) },
                  // The leader-election Lease lives in the install namespace (where the Role allows it), held under the pod's name.
                  { name: "LEADER_ELECTION", value: "true" },
                  { name: "LEASE_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                  // No Tenant may claim the install namespace (its Secrets hold the platform's credentials).
                  { name: "INSTALL_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                  { name: "LEASE_NAME", value: LEASE_NAME },
                  // First owners' invitation links point here; only this ServiceAccount may impersonate portal identities.
                  { name: "PORTAL_PUBLIC_URL", value: portalPublicUrl(values) },
                  { name: "PORTAL_SERVICE_ACCOUNT", value: values.operator.portalServiceAccount },
                  { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                  ...publicBaseUrlEnv(values),
                  // A bounded heap keeps the operator's RSS under 200 MB at 500 Tenants (operator/bench).
                  { name: "NODE_OPTIONS", value: OPERATOR_NODE_OPTIONS },
                ],
                resources: resources(values.operator.resources),
                volumeMounts: [TMP_MOUNT],
                ...httpProbes("health"),
              }),
            ],
            volumes: [TMP_VOLUME],
          },
        },
      },
    });
  }
}
