import { type TInteger, type TString, Type } from "@sinclair/typebox";

/**
 * Where each component's HTTP server listens — the gateway's webhooks and web chat, and every
 * component's /healthz, /readyz and /metrics. Written once here: the components' config.ts read
 * the variables through {@link listenFields}, the charts set them and declare the container
 * ports from {@link HTTP_PORTS}, and `npm start` sets them for its processes. Light to import
 * (TypeBox only), so the charts take it without loading the rest of core.
 */

/** The variable every component reads its HTTP port from. */
export const PORT_VARIABLE = "PORT";

/** The variable every component reads the address its HTTP server binds to from. */
export const HOST_VARIABLE = "HOST";

/** A component with an HTTP server. */
export type HttpComponent = "gateway" | "router" | "orchestrator" | "operator" | "portal";

/**
 * Each component's HTTP port in its pod: 8080 for the public servers (the gateway's webhooks and
 * web chat, the portal's pages), 8081 for the components that serve only health and metrics.
 */
export const HTTP_PORTS: Readonly<Record<HttpComponent, number>> = Object.freeze({
  gateway: 8080,
  router: 8081,
  orchestrator: 8081,
  operator: 8081,
  portal: 8080,
});

/** The variables the components read their listener from before they shared PORT and HOST. */
export const RENAMED_LISTEN_VARIABLES: Readonly<Record<string, string>> = Object.freeze({
  HTTP_PORT: PORT_VARIABLE,
  HTTP_HOST: HOST_VARIABLE,
  OPERATOR_HEALTH_PORT: PORT_VARIABLE,
  OPERATOR_HEALTH_HOST: HOST_VARIABLE,
});

/** Config fields: PORT (default: the component's port in its pod) and HOST (default: every interface). */
export function listenFields(component: HttpComponent): { [PORT_VARIABLE]: TInteger; [HOST_VARIABLE]: TString } {
  return {
    [PORT_VARIABLE]: Type.Integer({
      minimum: 0,
      maximum: 65_535,
      default: HTTP_PORTS[component],
      description: "port of the HTTP server (0 picks a free port)",
    }),
    [HOST_VARIABLE]: Type.String({ minLength: 1, default: "0.0.0.0", description: "address the HTTP server binds to" }),
  };
}
