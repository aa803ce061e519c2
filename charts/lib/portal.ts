import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { AppService, exposeHttp } from "./app-service.ts";
import { labels } from "./labels.ts";
import { portalPublicUrl, publicBaseUrlOf } from "./operator.ts";
import { installOrigin, type Values } from "./values.ts";

/** Where the portal is served under the install's host. */
export const PORTAL_PATH = "/portal";

/**
 * The portal: its Deployment, a ClusterIP Service and the Ingress path /portal. It runs as
 * `operator.portalServiceAccount`, which has no rights of its own here: the operator grants
 * that same ServiceAccount the right to impersonate exactly the per-tenant portal identities it
 * creates (`konstruct-portal:<tenant>:<role>`), and those identities' RBAC decides what a person may do.
 */
export class Portal extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const serviceAccountName = values.operator.portalServiceAccount;
    new k8s.KubeServiceAccount(this, "sa", {
      metadata: { name: serviceAccountName, namespace: values.namespace, labels: labels("portal") },
      automountServiceAccountToken: false,
    });
    new AppService(this, "service", values, {
      component: "portal",
      serviceAccountName,
      env: ["DATABASE_URL", "REDIS_URL", "OLLAMA_URL", "LOG_LEVEL"],
      extraEnv: [
        // The Origin every state change must come from, and the base of invitation links: the
        // address the operator puts in first owners' links, so those links pass the Origin check.
        { name: "PORTAL_PUBLIC_URL", value: portalPublicUrl(values) },
        // Where the operator registered the channels' webhooks, so the channels page shows those URLs.
        { name: "GATEWAY_PUBLIC_URL", value: publicBaseUrlOf(values) ?? installOrigin(values) },
        { name: "TRUSTED_PROXIES", value: values.ingress.trustedProxies },
      ],
    });
    exposeHttp(this, values, "portal", [PORTAL_PATH]);
  }
}
