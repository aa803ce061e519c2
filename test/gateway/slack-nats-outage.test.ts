import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats, ensureStreams } from "@konstruct/core";
import { signSlackRequest } from "@konstruct/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "./harness.ts";
import { appMention, createSlackTenant, gatewayDatabase, inboundFor, type SlackTenant, serverUrl } from "./support.ts";

// NATS goes away under the gateway: webhooks get 503 (Slack retries) within Slack's 3 s, and the
// retried event is stored once NATS is back. This file runs its own nats-server, so stopping it
// disturbs no other test file.
const NATS_BIN = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

let env: Awaited<ReturnType<typeof gatewayDatabase>>;
let tenant: SlackTenant;
let gateway: TestGateway;
let nats: ChildProcess | undefined;
let port: number;
let storeDir: string;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startNats(): Promise<void> {
  nats = spawn(NATS_BIN, ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir], { stdio: "ignore" });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => resolve(true)).once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    }).catch(() => false);
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("private nats-server did not start");
}

async function stopNats(): Promise<void> {
  const proc = nats;
  nats = undefined;
  if (!proc || proc.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    proc.once("exit", () => resolve());
    proc.kill("SIGKILL");
  });
}

beforeAll(async () => {
  port = await freePort();
  storeDir = mkdtempSync(join(tmpdir(), "konstruct-nats-"));
  await startNats();
  // What the JetStream set-up does before the services start; the store keeps them across restarts.
  const setup = await connectNats(`nats://127.0.0.1:${port}`, "outage-setup");
  await ensureStreams(await jetstreamManager(setup));
  await setup.close();
  env = await gatewayDatabase();
  tenant = await createSlackTenant(env.db, env.secretKey);
  gateway = await startTestGateway({
    db: env.db.app,
    secretKey: env.secretKey,
    natsUrl: `nats://127.0.0.1:${port}`,
    redisUrl: serverUrl("REDIS_ADMIN_URL"),
  });
});

afterAll(async () => {
  await gateway?.stop();
  await stopNats();
  await env?.db.drop();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

const send = (body: string, retry?: number) =>
  fetch(`${gateway.url}/webhooks/slack/${tenant.connectionId}/events`, {
    method: "POST",
    body,
    headers: { ...signSlackRequest(tenant.signingSecret, body), ...(retry ? { "x-slack-retry-num": String(retry) } : {}) },
  });

describe("Slack webhook while NATS is down", () => {
  it("answers 503 within Slack's 3 s, then stores the retried event once NATS is back", async () => {
    expect((await send(appMention(tenant.teamId, { eventId: "EvBEFORE" }))).status).toBe(200);

    await stopNats();
    const body = appMention(tenant.teamId, { eventId: "EvDURING" });
    const started = Date.now();
    const during = await send(body);
    expect(during.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);

    await startNats();
    const deadline = Date.now() + 15_000;
    while ((await fetch(`${gateway.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error("gateway did not become ready after NATS came back");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Slack's retry of the event that got 503.
    expect((await send(body, 1)).status).toBe(200);

    const nc = await connectNats(`nats://127.0.0.1:${port}`, "outage-check");
    try {
      const stored = await inboundFor(await jetstreamManager(nc), tenant.teamId, 1);
      expect(stored.map((s) => s.message.deliveryId).sort()).toEqual(["EvBEFORE", "EvDURING"]);
    } finally {
      await nc.close();
    }
  });
});
