import { createServer, type IncomingMessage, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";

/** What every channel's test double shares: a loopback HTTP server, body reading and injected failures. */

/** A double's HTTP server on a loopback port. */
export interface LoopbackServer {
  port: number;
  /** Stops listening and ends kept-alive connections, so a client's pooled socket cannot hold the close. */
  close(): Promise<void>;
}

/** Starts `listener` on 127.0.0.1 (port 0: any free one). */
export async function listenOnLoopback(listener: RequestListener, port = 0): Promise<LoopbackServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A request's whole body as UTF-8. */
export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Failures a test injects into a double's next calls, each for any call or only one method's (or kind's). */
export interface FailureQueue<F> {
  /** The next `count` calls (of `method`, if given) fail as `failure` describes. */
  add(count: number, failure: F, method?: string): void;
  /** The failure for this call, if one is due; it counts as used. */
  take(method?: string): F | null;
  clear(): void;
}

/** An empty {@link FailureQueue}: entries are used in the order they were added. */
export function createFailureQueue<F>(): FailureQueue<F> {
  const entries: { remaining: number; failure: F; method?: string }[] = [];
  return {
    add(count, failure, method) {
      entries.push({ remaining: count, failure, ...(method ? { method } : {}) });
    },
    take(method) {
      const entry = entries.find((e) => e.remaining > 0 && (!e.method || e.method === method));
      if (!entry) return null;
      entry.remaining--;
      return entry.failure;
    },
    clear() {
      entries.length = 0;
    },
  };
}
