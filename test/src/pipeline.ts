import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  connectNats,
  type Database,
  type EnsureStreamsOptions,
  encryptSecret,
  ensureStreams,
  HOST_VARIABLE,
  type KonstructMessage,
  NATS_USERS,
  type NatsUser,
  natsAuthorizationConfig,
  natsUrlFor,
  type OutboundReply,
  PORT_VARIABLE,
  type SecretKey,
} from "@konstruct/core";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Kysely } from "kysely";

/**
 * Helpers for pipeline tests: a private NATS server per test file (JetStream streams and
 * durable consumers are server-wide, so sharing one server would let one file's router eat
 * another file's messages), router and orchestrator as child processes, and seed data.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A free TCP port on 127.0.0.1 (bound and released; good enough for tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1");
  });
}

/** A nats-server with JetStream, private to one test file; its store survives restart(). */
export interface TestNats {
  /** Full access: without auth no credentials, with auth the `admin` user's. */
  readonly url: string;
  /** The URL of one NATS user of core's permission table (with auth; without, just `url`). */
  urlFor(user: NatsUser): string;
  /** The server's address without any credentials. */
  readonly anonymousUrl: string;
  /** The server's process id (for its memory figures). */
  readonly pid: () => number | undefined;
  /** Stops the server (SIGTERM) and starts it again on the same port and store. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Options for {@link startTestNats}. */
export interface TestNatsOptions {
  /**
   * Require authentication with the users and permissions of core's NATS permission table
   * (generated passwords), plus an `admin` with full access for the test itself. Off by
   * default: most tests are about something else.
   */
  auth?: boolean;
  /** Other stream bounds than core's (a test fills a stream with a few messages). */
  limits?: EnsureStreamsOptions["limits"];
}

/**
 * Starts `nats-server -js` on a free port with a temporary store directory, and declares
 * Konstruct's streams on it, as the set-up does before the services start.
 */
export async function startTestNats(options: TestNatsOptions = {}): Promise<TestNats> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "konstruct-nats-"));
  const passwords = Object.fromEntries(NATS_USERS.map((user) => [user, randomBytes(24).toString("hex")])) as Record<
    NatsUser,
    string
  >;
  const adminPassword = randomBytes(24).toString("hex");
  const anonymousUrl = `nats://127.0.0.1:${port}`;
  const args = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir];
  if (options.auth) {
    const conf = join(dir, "nats.conf");
    const authorization = natsAuthorizationConfig(
      (user) => JSON.stringify(passwords[user]),
      [{ user: "admin", password: adminPassword }],
    );
    await writeFile(conf, authorization, { mode: 0o600 });
    args.push("-c", conf);
  }
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn("nats-server", args, { stdio: "ignore" });
    await waitFor("nats-server", () => tcpOpen(port), 15_000);
  };
  const halt = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once("exit", resolve));
    c.kill("SIGTERM");
    await exited;
  };
  await start();
  const url = options.auth ? `nats://admin:${adminPassword}@127.0.0.1:${port}` : anonymousUrl;
  const setup = await connectNats(url, "test-nats-setup");
  try {
    await ensureStreams(await jetstreamManager(setup), options.limits ? { limits: options.limits } : {});
  } finally {
    await setup.close();
  }
  return {
    url,
    anonymousUrl,
    pid: () => (child as ChildProcess | null)?.pid,
    urlFor: (user) => (options.auth ? natsUrlFor(anonymousUrl, user, passwords[user]) : url),
    async restart(downMs = 500) {
      await halt();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A service running as `node services/<kind>/src/main.ts`. */
export interface ServiceProcess {
  readonly kind: "gateway" | "router" | "orchestrator";
  readonly port: number;
  readonly pid: number;
  /** Everything it logged (stdout and stderr), for assertions and failure messages. */
  output(): string;
  /** Sends `signal` and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Spawns a service and waits until its `/readyz` answers 200. */
export async function startServiceProcess(
  kind: "gateway" | "router" | "orchestrator",
  env: Record<string, string>,
  readyTimeoutMs = 30_000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, "services", kind, "src", "main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "info",
      ...env,
      [PORT_VARIABLE]: String(port),
      [HOST_VARIABLE]: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // "close" comes after the last output, so an early exit's message holds the whole error.
  const closed = new Promise((resolve) => child.once("close", resolve));
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  try {
    // A process that exits during start-up fails at once, not after the ready timeout.
    await waitFor(
      `${kind} (pid ${child.pid})`,
      async () => ended() || (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
      readyTimeoutMs,
    );
    if (ended()) {
      await closed;
      throw new Error(`${kind} exited early (code ${child.exitCode})`);
    }
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}\n${output.slice(-4_000)}`);
  }
  return {
    kind,
    port,
    pid: child.pid as number,
    output: () => output,
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** An agent to seed; defaults fill the rest. */
export interface SeedAgent {
  name: string;
  displayName?: string;
  role?: string;
  systemPrompt?: string;
  model?: string;
  fallbackModels?: string[];
  isDefault?: boolean;
  maxHistoryMessages?: number;
  channels?: string[];
}

/** A seeded tenant with one channel connection (Slack unless told otherwise). */
export interface SeededTenant {
  tenantId: string;
  /** The tenant's name (unique: the given one, or generated). */
  name: string;
  teamId: string;
  connectionId: string;
  connectionName: string;
  botUserId: string;
  agents: Record<string, string>;
}

/**
 * The connection a seeded tenant gets instead of the default Slack one: any channel type, its
 * external id, its credentials sealed for the tenant with `secretKey` (none: `null`), settings.
 */
export interface SeedConnection {
  type: string;
  name?: string;
  id?: string;
  externalId: string;
  credentials: { secretKey: SecretKey; value: Record<string, string> } | null;
  settings?: Record<string, unknown>;
}

/** Inserts a tenant, one channel connection and agents with the admin connection. */
export async function seedTenant(
  admin: Kysely<Database>,
  options: {
    /** Chosen by the caller when it needs the id before seeding (credentials sealed for it). */
    tenantId?: string;
    name?: string;
    displayName?: string;
    messagesPerMinute?: number;
    maxConcurrentRuns?: number;
    tokensPerDay?: number;
    agents: SeedAgent[];
    botId?: string;
    connection?: SeedConnection;
  },
): Promise<SeededTenant> {
  const tenantId = options.tenantId ?? randomUUID();
  const suffix = randomBytes(4).toString("hex");
  const name = options.name ?? `t-${suffix}`;
  const teamId = `T${suffix.toUpperCase()}`;
  const botUserId = `U${suffix.toUpperCase()}BOT`;
  await admin
    .insertInto("tenants")
    .values({
      id: tenantId,
      name,
      display_name: options.displayName ?? name,
      namespace: `konstruct-${name}`,
      messages_per_minute: options.messagesPerMinute ?? 600,
      max_concurrent_runs: options.maxConcurrentRuns ?? 8,
      tokens_per_day: options.tokensPerDay ?? 10_000_000,
      updated_at: new Date(),
    })
    .execute();
  const spec = options.connection;
  const connectionName = spec ? (spec.name ?? spec.type) : "slack-main";
  const settings = spec ? (spec.settings ?? {}) : options.botId ? { botId: options.botId } : {};
  const connection = await admin
    .insertInto("channel_connections")
    .values({
      ...(spec?.id ? { id: spec.id } : {}),
      tenant_id: tenantId,
      name: connectionName,
      channel_type: spec?.type ?? "slack",
      external_id: spec?.externalId ?? teamId,
      credentials: spec?.credentials
        ? encryptSecret(spec.credentials.secretKey, tenantId, JSON.stringify(spec.credentials.value))
        : null,
      settings: JSON.stringify(settings),
      updated_at: new Date(),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  const agents: Record<string, string> = {};
  for (const a of options.agents) {
    const row = await admin
      .insertInto("agents")
      .values({
        tenant_id: tenantId,
        name: a.name,
        display_name: a.displayName ?? a.name,
        role: a.role ?? "",
        system_prompt: a.systemPrompt ?? "",
        model: a.model ?? "llama3.2",
        fallback_models: a.fallbackModels ?? [],
        temperature: 0.2,
        max_history_messages: a.maxHistoryMessages ?? 20,
        is_default: a.isDefault ?? false,
        channels: a.channels ?? [],
        updated_at: new Date(),
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    agents[a.name] = row.id;
  }
  return { tenantId, name, teamId, connectionId: connection.id, connectionName, botUserId, agents };
}

let tsCounter = 0;

/** A Slack-shaped inbound message for `tenant`; by default a person @mentioning the bot in a channel. */
export function inboundMessage(
  tenant: SeededTenant,
  overrides: {
    text?: string;
    senderId?: string;
    isBot?: boolean;
    botId?: string | null;
    isDirect?: boolean;
    mention?: boolean;
    channelId?: string;
    threadId?: string;
    messageId?: string;
    deliveryId?: string;
  } = {},
): KonstructMessage {
  const ts = overrides.messageId ?? `${Math.floor(Date.now() / 1000)}.${String(++tsCounter).padStart(6, "0")}`;
  const mention = overrides.mention ?? !overrides.isDirect;
  const text = `${mention ? `<@${tenant.botUserId}> ` : ""}${overrides.text ?? "hello"}`;
  return {
    id: randomUUID(),
    tenantId: null,
    channelType: "slack",
    channel: {
      connectionId: null,
      workspaceId: tenant.teamId,
      channelId: overrides.channelId ?? "C0GENERAL",
      messageId: ts,
      isDirect: overrides.isDirect ?? false,
      botUserId: tenant.botUserId,
    },
    sender: {
      id: overrides.senderId ?? "U0PERSON",
      displayName: "A person",
      isBot: overrides.isBot ?? false,
      botId: overrides.botId ?? null,
    },
    content: { text, mentions: mention ? [tenant.botUserId] : [], attachments: [] },
    threadId: overrides.threadId ?? ts,
    timestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    deliveryId: overrides.deliveryId ?? `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
  };
}

/** Decodes an outbound stream message. */
export function parseReply(data: Uint8Array): OutboundReply {
  return JSON.parse(Buffer.from(data).toString("utf8")) as OutboundReply;
}
