/**
 * What the kind end-to-end suite needs to drive the cluster from outside: kubectl on the suite's
 * context, HTTP through the Ingress (the host name is set on each request: the name does not
 * resolve on a machine without internet DNS), the web chat's server-sent events, the Slack
 * double's control API through the API server's service proxy, and probe pods that report which
 * TCP endpoints they can reach.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { signSlackRequest } from "@konstruct/channels/doubles";
import { type SseEvent, sseReader } from "@konstruct/testkit";
import { expect, inject } from "vitest";

/** Set by test/e2e/global-setup.ts. */
export interface KindCluster {
  /** Why the suite cannot run (no Docker engine can be started), or null. */
  skip: string | null;
  context: string;
  clusterName: string;
  httpPort: number;
  host: string;
  namespace: string;
  /** The merged values file the install was synthesized with. */
  valuesFile: string;
  /** The Konstruct image the install runs. */
  konstructImage: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    kind: KindCluster;
  }
}

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const builtKubectl = `${repoRoot}.tools/kind/bin/kubectl`;
const kubectlBinary = existsSync(builtKubectl) ? builtKubectl : "kubectl";

export function cluster(): KindCluster {
  return inject("kind");
}

/** Runs kubectl on the suite's cluster and returns its stdout; throws with stderr on failure. */
export function kubectl(args: readonly string[], input?: string): string {
  try {
    return execFileSync(kubectlBinary, ["--context", cluster().context, ...args], {
      input,
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")} failed: ${e.stderr ?? e.message}`, { cause: error });
  }
}

/** kubectl without blocking the event loop (for commands that run while traffic flows). */
export function kubectlAsync(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(kubectlBinary, ["--context", cluster().context, ...args], { encoding: "utf8" }, (error, stdout, stderr) =>
      error ? reject(new Error(`kubectl ${args.join(" ")} failed: ${stderr}`, { cause: error })) : resolve(stdout),
    );
  });
}

/** Applies objects (any kinds) with kubectl apply. */
export function apply(...objects: readonly Record<string, unknown>[]): void {
  kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
}

export function getJson<T = Record<string, unknown>>(args: readonly string[]): T {
  return JSON.parse(kubectl(["get", ...args, "-o", "json"])) as T;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    await sleep(1_000);
  }
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request to the Ingress on the host's mapped port, with the install's host name. */
export function ingress(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  const { httpPort, host } = cluster();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: httpPort, method, path, headers: { host, ...options.headers }, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** The web chat's event stream (`GET …/events`) through the Ingress, read as it arrives. */
export function openEvents(
  base: string,
  token: string,
): Promise<{ events: SseEvent[]; close(): void; waitFor(p: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent> }> {
  const { httpPort, host } = cluster();
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const req = request(
      {
        host: "127.0.0.1",
        port: httpPort,
        path: `${base}events`,
        headers: { host, authorization: `Bearer ${token}`, accept: "text/event-stream" },
      },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${base}events: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding("utf8");
        res.on("data", sseReader(events));
        res.on("error", () => {});
        resolve({
          events,
          close: () => req.destroy(),
          waitFor: (predicate, timeoutMs = 120_000) => eventually("a web chat event", () => events.find(predicate), timeoutMs),
        });
      },
    );
    req.on("error", (error) => reject(error));
    req.end();
  });
}

/** The Slack double's control API, through the API server's service proxy. */
const slackControl = "/api/v1/namespaces/konstruct-doubles/services/slack-api:control/proxy";

export interface SlackPost {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  team: string;
}

export function slackPosts(): SlackPost[] {
  return JSON.parse(kubectl(["get", "--raw", `${slackControl}/posts`])) as SlackPost[];
}

export function addSlackToken(token: string, teamId: string, botUserId: string): void {
  kubectl(["create", "--raw", `${slackControl}/tokens`, "-f", "-"], JSON.stringify({ token, teamId, botUserId }));
}

/** A tenant of the suite's own, with a Slack channel (bot token known to the double) and a web chat. */
export interface E2eTenant {
  name: string;
  namespace: string;
  teamId: string;
  botUserId: string;
  signingSecret: string;
  agentPrompt: string;
}

export function tenantObjects(
  name: string,
  options: { slack?: boolean } = {},
): { tenant: E2eTenant; objects: Record<string, unknown>[] } {
  const suffix = randomBytes(3).toString("hex").toUpperCase();
  const namespace = `konstruct-${name}`;
  const tenant: E2eTenant = {
    name,
    namespace,
    teamId: `T0${suffix}E2E`,
    botUserId: `U0${suffix}BOT`,
    signingSecret: randomBytes(16).toString("hex"),
    agentPrompt: `You are the ${name} agent of the kind end-to-end suite.`,
  };
  const botToken = `xoxb-e2e-${name}-${randomBytes(8).toString("hex")}`;
  if (options.slack !== false) addSlackToken(botToken, tenant.teamId, tenant.botUserId);
  const channels: Record<string, unknown>[] = [
    { name: "web", type: "webchat", externalId: `${name}-web`, credentialsSecretRef: { name: `${name}-webchat` } },
  ];
  if (options.slack !== false) {
    channels.push({ name: "slack", type: "slack", externalId: tenant.teamId, credentialsSecretRef: { name: `${name}-slack` } });
  }
  const objects: Record<string, unknown>[] = [
    // Handed over to the Tenant by its label: the operator adopts no namespace it did not create otherwise.
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { "konstruct.io/tenant": name } } },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: `${name}-webchat`, namespace },
      stringData: { signingSecret: randomBytes(32).toString("hex") },
    },
    ...(options.slack !== false
      ? [
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: `${name}-slack`, namespace },
            stringData: { botToken, signingSecret: tenant.signingSecret },
          },
        ]
      : []),
    {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Tenant",
      metadata: { name },
      spec: {
        displayName: `E2E ${name}`,
        namespace,
        reclaimPolicy: "Delete",
        limits: { messagesPerMinute: 600, maxConcurrentRuns: 8, tokensPerDay: 10_000_000 },
        channels,
      },
    },
    {
      apiVersion: "konstruct.io/v1alpha1",
      kind: "Agent",
      metadata: { name: "helper", namespace },
      spec: {
        displayName: "Helper",
        role: "End-to-end agent",
        systemPrompt: tenant.agentPrompt,
        model: "qwen2.5:0.5b",
        temperature: 0.2,
        maxHistoryMessages: 20,
        default: true,
      },
    },
  ];
  return { tenant, objects };
}

/** Waits for the Tenant to be Ready and returns the webhook path of one of its channels. */
export async function channelPath(tenant: string, channel: string): Promise<string> {
  kubectl(["wait", "--for=condition=Ready", `tenant/${tenant}`, "--timeout=300s"]);
  return eventually(`tenant ${tenant}'s ${channel} path`, () => {
    const status = getJson<{ status?: { channels?: { name: string; webhookPath?: string }[] } }>([`tenant/${tenant}`]).status;
    return status?.channels?.find((c) => c.name === channel)?.webhookPath || undefined;
  });
}

/** A signed Slack `app_mention` in a new thread; `send` delivers it the way Slack does, retrying until a 200. */
export function slackEvent(tenant: E2eTenant, path: string, text: string) {
  const ts = `${Math.floor(Date.now() / 1000)}.${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;
  const channel = `C0${randomBytes(4).toString("hex").toUpperCase()}`;
  const body = JSON.stringify({
    token: "legacy-verification-token",
    team_id: tenant.teamId,
    api_app_id: "A0KONSTRUCT",
    type: "event_callback",
    event_id: `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: tenant.teamId, user_id: tenant.botUserId, is_bot: true }],
    event: {
      type: "app_mention",
      user: "U0HUMAN",
      text: `<@${tenant.botUserId}> ${text}`,
      ts,
      channel,
      event_ts: ts,
      team: tenant.teamId,
    },
  });
  return {
    ts,
    channel,
    /** Delivers until acknowledged (Slack retries with X-Slack-Retry-Num); returns the attempts made. */
    async send(timeoutMs = 300_000): Promise<number> {
      const deadline = Date.now() + timeoutMs;
      for (let attempt = 0; ; attempt++) {
        const headers: Record<string, string> = {
          ...signSlackRequest(tenant.signingSecret, body),
          "content-type": "application/json",
        };
        if (attempt > 0) {
          headers["x-slack-retry-num"] = String(attempt);
          headers["x-slack-retry-reason"] = "http_error";
        }
        const answer = await ingress("POST", path, { headers, body }).catch(() => null);
        if (answer?.status === 200) return attempt + 1;
        if (Date.now() > deadline)
          throw new Error(`Slack event ${ts} was never acknowledged (last: ${answer?.status ?? "no answer"})`);
        await sleep(1_000);
      }
    },
  };
}

/** Replies the Slack double holds in the thread of `ts`. */
export function repliesTo(channel: string, ts: string): SlackPost[] {
  return slackPosts().filter((p) => p.channel === channel && p.thread_ts === ts);
}

/**
 * Waits until each event has a reply in its thread, lets `settleMs` pass for any late duplicate,
 * then expects exactly one reply per event: none lost, none doubled.
 */
export async function expectOneReplyEach(events: readonly { channel: string; ts: string }[], settleMs: number): Promise<void> {
  for (const event of events) {
    await eventually(
      `the reply to ${event.ts}`,
      () => (repliesTo(event.channel, event.ts).length > 0 ? true : undefined),
      300_000,
    );
  }
  await sleep(settleMs);
  for (const event of events) expect(repliesTo(event.channel, event.ts), `replies to ${event.ts}`).toHaveLength(1);
}

/**
 * Runs a short-lived restricted pod in `namespace` that tries a TCP connection to each target and
 * reports `open` or `blocked` (refused, reset or no answer within 3 s).
 */
export async function reachable(
  namespace: string,
  targets: readonly string[],
  labels: Record<string, string> = {},
): Promise<Record<string, string>> {
  const name = `probe-${randomUUID().slice(0, 8)}`;
  const script = `
    const net = require("node:net");
    const targets = ${JSON.stringify(targets)};
    Promise.all(targets.map((t) => new Promise((resolve) => {
      const [host, port] = t.split(":");
      const socket = net.connect({ host, port: Number(port), timeout: 3000 });
      socket.once("connect", () => { socket.destroy(); resolve([t, "open"]); });
      socket.once("timeout", () => { socket.destroy(); resolve([t, "blocked"]); });
      socket.once("error", (e) => resolve([t, e.code === "ENOTFOUND" || e.code === "EAI_AGAIN" ? "no-dns" : "blocked"]));
    }))).then((r) => console.log("RESULT " + JSON.stringify(Object.fromEntries(r))));`;
  apply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { "konstruct-e2e": "probe", ...labels } },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "probe",
          image: doublesImage(),
          imagePullPolicy: "IfNotPresent",
          command: ["node", "-e", script],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  });
  try {
    const line = await eventually(`probe pod ${namespace}/${name}`, () => {
      const phase = kubectl(["-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}"]);
      if (phase !== "Succeeded" && phase !== "Failed") return undefined;
      return (
        kubectl(["-n", namespace, "logs", name])
          .split("\n")
          .find((l) => l.startsWith("RESULT ")) ?? "RESULT {}"
      );
    });
    return JSON.parse(line.slice("RESULT ".length)) as Record<string, string>;
  } finally {
    kubectl(["-n", namespace, "delete", "pod", name, "--wait=false", "--ignore-not-found"]);
  }
}

/** The same TCP check run inside an existing container (kubectl exec; the image has node). */
export function reachableFrom(namespace: string, target: string, container: string, hostPort: string): string {
  const script = `const s=require("node:net").connect({host:"${hostPort.split(":")[0]}",port:${hostPort.split(":")[1]},timeout:3000});s.once("connect",()=>{console.log("open");process.exit(0)});s.once("timeout",()=>{console.log("blocked");process.exit(0)});s.once("error",()=>{console.log("blocked");process.exit(0)});`;
  return kubectl(["-n", namespace, "exec", target, "-c", container, "--", "node", "-e", script]).trim();
}

/** The doubles image, which the Ollama Deployment of the offline install runs. */
export function doublesImage(): string {
  const deployment = getJson<{ spec: { template: { spec: { containers: { image: string }[] } } } }>([
    "-n",
    "konstruct-doubles",
    "deployment/slack-api",
  ]);
  return deployment.spec.template.spec.containers[0]!.image;
}
