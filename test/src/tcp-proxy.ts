import { connect, createServer, type Server, type Socket } from "node:net";

/** A TCP proxy in front of a server, for outage tests. */
export interface TcpProxy {
  /** `target` with its host and port replaced by the proxy's. */
  url: string;
  /** Connections the proxy accepted, blocked or not. */
  readonly attempts: number;
  /** Cuts every open connection and hangs up on each new one at once: the server looks down. */
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 that forwards to `target`'s host and port. */
export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const state = { blocked: false, attempts: 0 };
  const server: Server = createServer((client) => {
    state.attempts++;
    if (state.blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(a);
      a.on("error", () => b.destroy());
      a.on("close", () => {
        open.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    get attempts() {
      return state.attempts;
    },
    block() {
      state.blocked = true;
      for (const socket of open) socket.destroy();
    },
    unblock() {
      state.blocked = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
