import type { k8s } from "cdk8s-plus-27";
import { Construct } from "constructs";
import { AppService, exposeHttp } from "./app-service.ts";
import { fromSecret, optionalFromSecret, SECRET_KEYS } from "./install-secret.ts";
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
    exposeHttp(this, values, "gateway", values.ingress.paths);
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
