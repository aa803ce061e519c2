import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { AppService } from "./app-service.ts";
import { labels, nameOf, selectorLabels } from "./labels.ts";
import type { Values } from "./values.ts";

/**
 * The ServiceAccount the portal runs as. It has no rights of its own here: the operator grants
 * it the right to impersonate exactly the per-tenant portal identities it creates
 * (`konstruct-portal:<tenant>:<role>`), and those identities' RBAC decides what a person may do.
 */
export const PORTAL_SERVICE_ACCOUNT = "konstruct-portal";

/** Where the portal is served under the install's host. */
export const PORTAL_PATH = "/portal";

/** The portal: its Deployment (as the konstruct-portal ServiceAccount), a ClusterIP Service and the Ingress path /portal. */
export class Portal extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    const name = nameOf("portal");
    const metadata = { name, namespace: values.namespace, labels: labels("portal") };
    const origin = `${values.ingress.enabled && values.ingress.tls.enabled ? "https" : "http"}://${values.domain}`;
    new k8s.KubeServiceAccount(this, "sa", {
      metadata: { ...metadata, name: PORTAL_SERVICE_ACCOUNT },
      automountServiceAccountToken: false,
    });
    new AppService(this, "service", values, {
      component: "portal",
      serviceAccountName: PORTAL_SERVICE_ACCOUNT,
      env: ["DATABASE_URL", "REDIS_URL", "OLLAMA_URL", "LOG_LEVEL"],
      extraEnv: [
        // The Origin every state change must come from, and the base of invitation links.
        { name: "PORTAL_PUBLIC_URL", value: origin },
        { name: "GATEWAY_PUBLIC_URL", value: origin },
        { name: "TRUSTED_PROXIES", value: values.ingress.trustedProxies },
      ],
    });
    new k8s.KubeService(this, "svc", {
      metadata,
      spec: {
        type: "ClusterIP",
        selector: selectorLabels("portal"),
        ports: [{ name: "http", port: 80, targetPort: k8s.IntOrString.fromString("http"), protocol: "TCP" }],
      },
    });
    if (!values.ingress.enabled) return;
    const ingress = values.ingress;
    new k8s.KubeIngress(this, "ingress", {
      metadata: { ...metadata, annotations: ingress.annotations },
      spec: {
        ingressClassName: ingress.className,
        ...(ingress.tls.enabled ? { tls: [{ hosts: [values.domain], secretName: ingress.tls.secretName }] } : {}),
        rules: [
          {
            host: values.domain,
            http: { paths: [{ path: PORTAL_PATH, pathType: "Prefix", backend: { service: { name, port: { name: "http" } } } }] },
          },
        ],
      },
    });
  }
}
