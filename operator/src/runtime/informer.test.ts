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

/** The default list: one object, the list's version counting the lists served. */
const oneItem = (n: number) => ({
  metadata: { resourceVersion: String(n) },
  items: [{ metadata: { name: "a", resourceVersion: "1" } }],
});

/** A fake API server: `watch` decides what each watch request gets, `list` each list request's body. */
async function fakeApi(
  watch: (n: number, res: import("node:http").ServerResponse) => void,
  list: (n: number, query: URLSearchParams) => unknown = oneItem,
) {
  const calls = { lists: 0, watches: 0 };
  const http = createServer((req, res) => {
    if (req.url?.includes("watch=true")) {
      calls.watches++;
      res.writeHead(200, { "content-type": "application/json" });
      watch(calls.watches, res);
    } else {
      calls.lists++;
      const query = new URL(req.url ?? "/", "http://x").searchParams;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(list(calls.lists, query)));
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

  it("lists in pages, following continue tokens, and caches objects without managedFields or last-applied", async () => {
    const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";
    const object = (name: string) => ({
      metadata: {
        name,
        resourceVersion: "1",
        managedFields: [{ manager: "kubectl", operation: "Apply" }],
        annotations: { [LAST_APPLIED]: "{}", keep: "me" },
      },
      spec: { n: name },
    });
    const queries: Record<string, string>[] = [];
    const pages: Record<string, { items: unknown[]; next?: string }> = {
      "": { items: [object("a"), object("b")], next: "page-2" },
      "page-2": { items: [object("c")], next: "page-3" },
      "page-3": { items: [object("d")] },
    };
    const { calls, client } = await fakeApi(
      () => {},
      (_n, query) => {
        queries.push(Object.fromEntries(query));
        const page = pages[query.get("continue") ?? ""] ?? { items: [] };
        return { metadata: { resourceVersion: "42", ...(page.next ? { continue: page.next } : {}) }, items: page.items };
      },
    );
    const changes: string[] = [];
    const informer = new Informer(client, {
      path: "/x",
      resource: "x",
      watchdogMs: 5_000,
      log,
      onChange: (k) => changes.push(k),
    });
    informer.start();
    const deadline = Date.now() + 2_000;
    while (!informer.synced && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(calls.lists).toBe(3);
    expect(queries.map((q) => q.continue ?? null)).toEqual([null, "page-2", "page-3"]);
    expect(queries.every((q) => Number(q.limit) > 0)).toBe(true);
    expect(changes.sort()).toEqual(["a", "b", "c", "d"]);
    expect(informer.get("c")).toEqual({
      metadata: { name: "c", resourceVersion: "1", annotations: { keep: "me" } },
      spec: { n: "c" },
    });
    await informer.stop();
  });
});
