import { join } from "node:path";
import { HOST_VARIABLE, natsUrlFor, PORT_VARIABLE } from "@konstruct/core";
import { OPERATOR_NODE_OPTIONS } from "@konstruct/operator";
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
  /** The NATS servers; each service connects as its own user, with its password from the local secrets. */
  natsUrl: string;
  slackApiUrl: string;
  telegramApiUrl: string;
  whatsappApiUrl: string;
  model: Model;
  logLevel: string;
}

const readyUrl = (port: number, path = "/readyz") => `http://127.0.0.1:${port}${path}`;

/** Every component listens on loopback only, on its own port: they share one machine. */
const listenOn = (port: number) => ({ [PORT_VARIABLE]: String(port), [HOST_VARIABLE]: "127.0.0.1" });

/** The gateway, router and orchestrator, as the supervisor runs them: the environment their config.ts reads. */
export function serviceSpecs(secrets: LocalSecrets, ports: LocalPorts, connections: Connections): ComponentSpec[] {
  const common = {
    DATABASE_URL: connections.databaseUrl,
    REDIS_URL: connections.redisAdminUrl,
    LOG_LEVEL: connections.logLevel,
  };
  const nats = (user: "gateway" | "router" | "orchestrator") => ({
    NATS_URL: natsUrlFor(connections.natsUrl, user, secrets.NATS_PASSWORDS[user]),
  });
  return [
    {
      name: "gateway",
      args: [join(root, "services/gateway/src/main.ts")],
      env: {
        ...common,
        ...nats("gateway"),
        ...listenOn(ports.gateway.port),
        SLACK_API_URL: connections.slackApiUrl,
        TELEGRAM_API_URL: connections.telegramApiUrl,
        WHATSAPP_API_URL: connections.whatsappApiUrl,
        SLACK_SIGNING_SECRET: secrets.SLACK_SIGNING_SECRET,
        KONSTRUCT_SECRET_KEY: secrets.KONSTRUCT_SECRET_KEY,
        WEBCHAT_SESSION_SECRET: secrets.WEBCHAT_SESSION_SECRET,
      },
      readyUrl: readyUrl(ports.gateway.port),
    },
    {
      name: "router",
      args: [join(root, "services/router/src/main.ts")],
      env: { ...common, ...nats("router"), ...listenOn(ports.router.port) },
      readyUrl: readyUrl(ports.router.port),
    },
    {
      name: "orchestrator",
      args: [join(root, "services/orchestrator/src/main.ts")],
      env: {
        ...common,
        ...nats("orchestrator"),
        ...listenOn(ports.orchestrator.port),
        OLLAMA_URL: connections.model.ollamaUrl,
        // Without a reachable model, fail fast into the honest "no model" reply.
        ...(connections.model.reachable ? {} : { LLM_TIMEOUT_MS: "5000" }),
      },
      readyUrl: readyUrl(ports.orchestrator.port),
    },
  ];
}

/** The gateway's address on this machine: where webhooks are registered and the portal points its channel URLs. */
export function gatewayUrl(ports: LocalPorts): string {
  return `http://127.0.0.1:${ports.gateway.port}`;
}

/** The portal's address on this machine: the Origin its state changes must come from, and the base of invitation links. */
export function portalUrl(ports: LocalPorts): string {
  return `http://127.0.0.1:${ports.portal.port}`;
}

/**
 * The portal. With a kubeconfig it writes Agents and Tenants through the local kube-apiserver
 * (as the konstruct-portal ServiceAccount's user name, impersonating each person's role);
 * without one, configuration is read-only and its pages say why.
 */
export function portalSpec(ports: LocalPorts, connections: Connections, kubeconfig: string | null): ComponentSpec {
  return {
    name: "portal",
    args: [join(root, "services/portal/src/main.ts")],
    env: {
      DATABASE_URL: connections.databaseUrl,
      REDIS_URL: connections.redisAdminUrl,
      LOG_LEVEL: connections.logLevel,
      OLLAMA_URL: connections.model.ollamaUrl,
      PORTAL_PUBLIC_URL: portalUrl(ports),
      GATEWAY_PUBLIC_URL: gatewayUrl(ports),
      ...listenOn(ports.portal.port),
      ...(kubeconfig === null ? {} : { KUBECONFIG: kubeconfig }),
    },
    readyUrl: readyUrl(ports.portal.port),
  };
}

/** The operator, run against the local kube-apiserver; one replica, so no leader election. */
export function operatorSpec(
  secrets: LocalSecrets,
  port: PortSetting,
  admin: { kubeconfig: string; databaseOperatorUrl: string; redisAdminUrl: string; logLevel: string; portalUrl: string },
  extraEnv: Record<string, string> = {},
): ComponentSpec {
  return {
    name: "operator",
    args: [join(root, "operator/src/main.ts")],
    env: {
      KUBECONFIG: admin.kubeconfig,
      DATABASE_OPERATOR_URL: admin.databaseOperatorUrl,
      REDIS_ADMIN_URL: admin.redisAdminUrl,
      KONSTRUCT_SECRET_KEY: secrets.KONSTRUCT_SECRET_KEY,
      ...listenOn(port.port),
      // The bounded heap it runs with in a cluster, so a local run shows the same memory.
      NODE_OPTIONS: OPERATOR_NODE_OPTIONS,
      LEADER_ELECTION: "false",
      RESYNC_INTERVAL_SECONDS: "60",
      LOG_LEVEL: admin.logLevel,
      // First owners' invitation links point at the local portal.
      PORTAL_PUBLIC_URL: admin.portalUrl,
      ...extraEnv,
    },
    readyUrl: readyUrl(port.port, "/healthz"),
  };
}
