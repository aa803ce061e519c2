import { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { AppService } from "./app-service.ts";
import { fromSecret, optionalFromSecret, SECRET_KEYS } from "./install-secret.ts";
import { labels, nameOf, selectorLabels } from "./labels.ts";
import type { Values } from "./values.ts";

/** The gateway: its Deployment, a ClusterIP Service, and the Ingress for webhooks and web chat. */
export class Gateway extends Construct {
  constructor(scope: Construct, id: string, values: Values) {
    super(scope, id);
    new AppService(this, "service", values, {
      component: "gateway",
      // Optional: without it the gateway derives web chat session keys itself.
      extraEnv: [
        optionalFromSecret(values, "WEBCHAT_SESSION_SECRET", SECRET_KEYS.webchatSessionSecret),
        { name: "TRUSTED_PROXIES", value: values.ingress.trustedProxies },
        ...slackOAuthEnv(values),
      ],
      env: [
        "DATABASE_URL",
        "REDIS_URL",
        "NATS_URL",
        "SLACK_API_URL",
        "SLACK_SIGNING_SECRET",
        "KONSTRUCT_SECRET_KEY",
        "LOG_LEVEL",
      ],
    });
    const name = nameOf("gateway");
    const metadata = { name, namespace: values.namespace, labels: labels("gateway") };
    new k8s.KubeService(this, "svc", {
      metadata,
      spec: {
        type: "ClusterIP",
        selector: selectorLabels("gateway"),
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
            http: {
              paths: ingress.paths.map((path) => ({
                path,
                pathType: "Prefix",
                backend: { service: { name, port: { name: "http" } } },
              })),
            },
          },
        ],
      },
    });
  }
}

/** "Add to Slack": the shared app's OAuth client, when `slack.clientId` is set; the callback is on the Ingress host. */
function slackOAuthEnv(values: Values): k8s.EnvVar[] {
  if (values.slack.clientId === undefined) return [];
  const scheme = values.ingress.tls.enabled ? "https" : "http";
  return [
    { name: "SLACK_CLIENT_ID", value: values.slack.clientId },
    fromSecret(values, "SLACK_CLIENT_SECRET", SECRET_KEYS.slackClientSecret),
    { name: "SLACK_OAUTH_REDIRECT_URL", value: `${scheme}://${values.domain}/webhooks/slack/oauth/callback` },
  ];
}
