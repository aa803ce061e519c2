import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "@konstruct/core";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { KubeClient } from "../kube/kube-client.ts";
import { Informer } from "./informer.ts";

const log = createLogger({ name: "informer-test", level: "silent" });
let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

/** A fake API server: `watch` decides what each watch request gets. */
async function fakeApi(watch: (n: number, res: import("node:http").ServerResponse) => void) {
  const calls = { lists: 0, watches: 0 };
  const http = createServer((req, res) => {
    if (req.url?.includes("watch=true")) {
      calls.watches++;
      res.writeHead(200, { "content-type": "application/json" });
      watch(calls.watches, res);
    } else {
      calls.lists++;
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          metadata: { resourceVersion: String(calls.lists) },
          items: [{ metadata: { name: "a", resourceVersion: "1" } }],
        }),
      );
    }
  });
  server = http;
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return { calls, client: new KubeClient(config) };
}

describe("Informer", () => {
  it("restarts a watch that went silent (the stall client-node informers can suffer) and relists", async () => {
    const { calls, client } = await fakeApi(() => {}); // accepts the watch, never sends a byte
    const restarts: string[] = [];
    const informer = new Informer(client, {
      path: "/x",
      resource: "x",
      watchdogMs: 150,
      log,
      onChange: () => {},
      onRestart: (r) => restarts.push(r),
    });
    informer.start();
    await new Promise((r) => setTimeout(r, 1_200));
    await informer.stop();
    expect(calls.watches).toBeGreaterThanOrEqual(2);
    expect(calls.lists).toBeGreaterThanOrEqual(2);
    expect(restarts.length).toBeGreaterThanOrEqual(1);
  });

  it("relists at once on 410 Gone, and keeps delivering changes", async () => {
    const changes: string[] = [];
    const { calls, client } = await fakeApi((n, res) => {
      if (n === 1)
        res.end(
          `${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, message: "too old resource version" } })}\n`,
        );
      else res.write(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: "b", resourceVersion: "9" } } })}\n`);
    });
    const restarts: string[] = [];
    const informer = new Informer(client, {
      path: "/x",
      resource: "x",
      watchdogMs: 5_000,
      log,
      onChange: (k) => changes.push(k),
      onRestart: (r) => restarts.push(r),
    });
    informer.start();
    await new Promise((r) => setTimeout(r, 400));
    expect(restarts).toEqual(["gone"]);
    expect(calls.lists).toBe(2);
    expect(informer.get("b")).toBeDefined();
    expect(changes).toContain("b");
    await informer.stop();
  });
});
