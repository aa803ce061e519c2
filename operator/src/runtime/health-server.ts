import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** /healthz (the process answers), /readyz (caches synced or standing by), /metrics (Prometheus). */
export async function startHealthServer(options: {
  host: string;
  port: number;
  registry: Registry;
  ready(): { ok: boolean; detail: string };
  live(): boolean;
}): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz" || path === "/livez") {
      const live = options.live();
      res.writeHead(live ? 200 : 503, { "content-type": "text/plain" }).end(live ? "ok\n" : "shutting down\n");
    } else if (path === "/readyz") {
      const { ok, detail } = options.ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(`${detail}\n`);
    } else if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": options.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
