import { join } from "node:path";
import type { Model } from "./model.ts";
import { root } from "./paths.ts";
import type { LocalPorts, PortSetting } from "./ports.ts";
import type { LocalSecrets } from "./secrets.ts";
import type { ComponentSpec } from "./supervisor.ts";

/** The servers and APIs the components connect to. */
export interface Connections {
  databaseUrl: string;
  /** Locally the services share Redis's default user; in a cluster each gets its own. */
  redisAdminUrl: string;
  natsUrl: string;
  slackApiUrl: string;
  model: Model;
  logLevel: string;
}

const readyUrl = (port: number, path = "/readyz") => `http://127.0.0.1:${port}${path}`;

/** The gateway, router and orchestrator, as the supervisor runs them: the environment their config.ts reads. */
export function serviceSpecs(secrets: LocalSecrets, ports: LocalPorts, connections: Connections): ComponentSpec[] {
  const common = {
    DATABASE_URL: connections.databaseUrl,
    REDIS_URL: connections.redisAdminUrl,
    NATS_URL: connections.natsUrl,
    LOG_LEVEL: connections.logLevel,
  };
  return [
    {
      name: "gateway",
      args: [join(root, "services/gateway/src/main.ts")],
      env: {
        ...common,
        PORT: String(ports.gateway.port),
        HOST: "127.0.0.1",
        SLACK_API_URL: connections.slackApiUrl,
        SLACK_SIGNING_SECRET: secrets.SLACK_SIGNING_SECRET,
        KONSTRUCT_SECRET_KEY: secrets.KONSTRUCT_SECRET_KEY,
        WEBCHAT_SESSION_SECRET: secrets.WEBCHAT_SESSION_SECRET,
      },
      readyUrl: readyUrl(ports.gateway.port),
    },
    {
      name: "router",
      args: [join(root, "services/router/src/main.ts")],
      env: { ...common, HTTP_PORT: String(ports.router.port), HTTP_HOST: "127.0.0.1" },
      readyUrl: readyUrl(ports.router.port),
    },
    {
      name: "orchestrator",
      args: [join(root, "services/orchestrator/src/main.ts")],
      env: {
        ...common,
        HTTP_PORT: String(ports.orchestrator.port),
        HTTP_HOST: "127.0.0.1",
        OLLAMA_URL: connections.model.ollamaUrl,
        // Without a reachable model, fail fast into the honest "no model" reply.
        ...(connections.model.reachable ? {} : { LLM_TIMEOUT_MS: "5000" }),
      },
      readyUrl: readyUrl(ports.orchestrator.port),
    },
  ];
}

/** The operator, run against the local kube-apiserver; one replica, so no leader election. */
export function operatorSpec(
  secrets: LocalSecrets,
  port: PortSetting,
  admin: { kubeconfig: string; databaseAdminUrl: string; redisAdminUrl: string; logLevel: string },
): ComponentSpec {
  return {
    name: "operator",
    args: [join(root, "operator/src/main.ts")],
    env: {
      KUBECONFIG: admin.kubeconfig,
      DATABASE_ADMIN_URL: admin.databaseAdminUrl,
      REDIS_ADMIN_URL: admin.redisAdminUrl,
      KONSTRUCT_SECRET_KEY: secrets.KONSTRUCT_SECRET_KEY,
      OPERATOR_HEALTH_PORT: String(port.port),
      OPERATOR_HEALTH_HOST: "127.0.0.1",
      LEADER_ELECTION: "false",
      RESYNC_INTERVAL_SECONDS: "60",
      LOG_LEVEL: admin.logLevel,
    },
    readyUrl: readyUrl(port.port, "/healthz"),
  };
}
