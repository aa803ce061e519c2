import { createServer } from "node:net";
import { StartError } from "./environment.ts";

/** A port the platform listens on, and the variable that moves it. */
export interface PortSetting {
  variable: string;
  port: number;
  what: string;
}

/** The ports of a local install. */
export type LocalPorts = Record<"gateway" | "router" | "orchestrator" | "operator" | "portal" | "slack", PortSetting>;

/**
 * The local ports, each overridable by its variable. Every component listens on one machine
 * here, so each needs a port of its own, unlike in a cluster where each pod has its own address.
 */
export function localPorts(env: NodeJS.ProcessEnv): LocalPorts {
  const port = (variable: string, fallback: number, what: string): PortSetting => {
    const raw = env[variable];
    const value = raw ? Number(raw) : fallback;
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      throw new Error(`${variable}=${raw} is not a port number (1-65535)`);
    }
    return { variable, port: value, what };
  };
  return {
    gateway: port("KONSTRUCT_GATEWAY_PORT", 8080, "the gateway (webhooks and web chat)"),
    router: port("KONSTRUCT_ROUTER_PORT", 8081, "the router's health and metrics"),
    orchestrator: port("KONSTRUCT_ORCHESTRATOR_PORT", 8082, "the orchestrator's health and metrics"),
    operator: port("KONSTRUCT_OPERATOR_PORT", 8083, "the operator's health and metrics"),
    portal: port("KONSTRUCT_PORTAL_PORT", 8084, "the portal"),
    slack: port("KONSTRUCT_SLACK_SANDBOX_PORT", 8090, "the local Slack sandbox"),
  };
}

/** Fails, naming the port and the variable that moves it, when any port is taken. */
export async function assertPortsFree(ports: LocalPorts): Promise<void> {
  for (const port of Object.values(ports)) await assertPortFree(port);
}

async function assertPortFree({ variable, port, what }: PortSetting): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new StartError(
          error.code === "EADDRINUSE"
            ? `port ${port} (${what}) is already in use; stop what uses it or choose another port with ${variable}=<port>`
            : `cannot listen on port ${port} (${what}): ${error.message}; choose another with ${variable}=<port>`,
        ),
      ),
    );
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}
