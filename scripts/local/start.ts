import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { localTenantId } from "@konstruct/operator/local";
import { loadManifests, type Manifest, type SlackApiDouble, startSlackApi } from "@konstruct/testkit";
import { type CheckResult, checkSlack, checkWebchat, type SlackTarget } from "./checks.ts";
import {
  applyManifests,
  clusterAvailable,
  type LocalCluster,
  startLocalCluster,
  type TenantReport,
  waitForTenantsReady,
} from "./cluster.ts";
import { reconcileFromFiles } from "./from-files.ts";
import { type LocalSecrets, loadLocalSecrets, localPorts, type PortSetting } from "./local-settings.ts";
import { type ComponentSpec, color, type Supervisor, startSupervisor } from "./supervisor.ts";

/**
 * `npm start` after scripts/start.sh has installed packages, started PostgreSQL, Redis and NATS
 * and migrated: reconciles `examples/` with the operator's own code, runs the gateway, router
 * and orchestrator as supervised processes, prints where to talk to the agents, and keeps
 * running until Ctrl-C. `--check` instead proves one Slack and one web chat round trip and
 * exits 0 or 1.
 */

const root = fileURLToPath(new URL("../../", import.meta.url));
// Tests point this elsewhere so they never touch a developer's local install.
const dataDir = process.env.KONSTRUCT_LOCAL_DATA_DIR || join(root, ".data", "local");
const check = process.argv.includes("--check");
const print = (line: string) => process.stdout.write(`${line}\n`);
const step = (text: string) => print(`\n${color(1, `==> ${text}`)}`);

class StartError extends Error {
  override name = "StartError";
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new StartError(`${name} is not set; run \`npm start\`, which sets it (scripts/start.sh)`);
  return value;
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

async function ollamaReachable(url: string): Promise<boolean> {
  return fetch(new URL("/api/tags", url), { signal: AbortSignal.timeout(2_000) })
    .then((r) => r.ok)
    .catch(() => false);
}

/** Slack channels of the examples, with the credentials their Secrets hold. */
function slackChannels(manifests: Manifest[]): { tenant: string; teamId: string; botToken: string; signingSecret: string }[] {
  const secrets = new Map(
    manifests.filter((m) => m.kind === "Secret").map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s.stringData ?? {}]),
  );
  return manifests
    .filter((m) => m.kind === "Tenant")
    .flatMap((t) =>
      (t.spec.channels ?? [])
        .filter((c: Manifest) => c.type === "slack" && c.credentialsSecretRef)
        .map((c: Manifest) => {
          const data = secrets.get(`${t.spec.namespace ?? `konstruct-${t.metadata?.name}`}/${c.credentialsSecretRef.name}`) ?? {};
          return {
            tenant: t.metadata?.name as string,
            teamId: c.externalId,
            botToken: data.botToken,
            signingSecret: data.signingSecret,
          };
        }),
    );
}

function components(secrets: LocalSecrets, ports: ReturnType<typeof localPorts>, env: Record<string, string>): ComponentSpec[] {
  const common = {
    DATABASE_URL: env.DATABASE_URL as string,
    // Locally the services share Redis's default user; in a cluster each gets its own.
    REDIS_URL: env.REDIS_ADMIN_URL as string,
    NATS_URL: env.NATS_URL as string,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
  };
  const health = (port: number) => `http://127.0.0.1:${port}/readyz`;
  const specs: ComponentSpec[] = [
    {
      name: "gateway",
      args: [join(root, "services/gateway/src/main.ts")],
      env: {
        ...common,
        PORT: String(ports.gateway.port),
        HOST: "127.0.0.1",
        SLACK_API_URL: env.SLACK_API_URL as string,
        SLACK_SIGNING_SECRET: secrets.SLACK_SIGNING_SECRET,
        KONSTRUCT_SECRET_KEY: secrets.KONSTRUCT_SECRET_KEY,
        WEBCHAT_SESSION_SECRET: secrets.WEBCHAT_SESSION_SECRET,
      },
      readyUrl: health(ports.gateway.port),
    },
    {
      name: "router",
      args: [join(root, "services/router/src/main.ts")],
      env: { ...common, HTTP_PORT: String(ports.router.port), HTTP_HOST: "127.0.0.1" },
      readyUrl: health(ports.router.port),
    },
    {
      name: "orchestrator",
      args: [join(root, "services/orchestrator/src/main.ts")],
      env: {
        ...common,
        HTTP_PORT: String(ports.orchestrator.port),
        HTTP_HOST: "127.0.0.1",
        OLLAMA_URL: env.OLLAMA_URL as string,
        // Without a reachable model, fail fast into the honest "no model" reply.
        ...(env.OLLAMA_REACHABLE === "true" ? {} : { LLM_TIMEOUT_MS: "5000" }),
      },
      readyUrl: health(ports.orchestrator.port),
    },
  ];
  return specs;
}

function operatorSpec(secrets: LocalSecrets, port: PortSetting, kubeconfig: string): ComponentSpec {
  return {
    name: "operator",
    args: [join(root, "operator/src/main.ts")],
    env: {
      KUBECONFIG: kubeconfig,
      DATABASE_ADMIN_URL: required("DATABASE_ADMIN_URL"),
      REDIS_ADMIN_URL: required("REDIS_ADMIN_URL"),
      KONSTRUCT_SECRET_KEY: secrets.KONSTRUCT_SECRET_KEY,
      OPERATOR_HEALTH_PORT: String(port.port),
      OPERATOR_HEALTH_HOST: "127.0.0.1",
      LEADER_ELECTION: "false",
      RESYNC_INTERVAL_SECONDS: "60",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
    },
    readyUrl: `http://127.0.0.1:${port.port}/healthz`,
  };
}

function printEndpoints(reports: TenantReport[], gatewayPort: number): { slack: SlackTarget[]; webchat: string[] } {
  const base = `http://127.0.0.1:${gatewayPort}`;
  const webchat: string[] = [];
  print(`\nKonstruct is running. Talk to the agents:`);
  for (const report of reports) {
    print(`  tenant ${report.name} (${report.tenantId})`);
    for (const channel of report.channels) {
      if (!channel.webhookPath) {
        print(`    ${channel.type} ${channel.name}: not ready — ${channel.message ?? "no webhook path"}`);
        continue;
      }
      const url = `${base}${channel.webhookPath}`;
      if (channel.type === "webchat") webchat.push(url);
      print(`    ${channel.type === "webchat" ? "web chat" : "Slack webhook"} (${channel.name}): ${url}`);
    }
  }
  print(`  Slack (the platform's shared app, tenant chosen by team id): ${base}/webhooks/slack/events`);
  return { slack: [], webchat };
}

async function main(): Promise<number> {
  const ports = localPorts(process.env);
  const secrets = loadLocalSecrets(dataDir, process.env);
  // A local install names its tenants' ids after the Tenants (as the file driver does), so both
  // ways of running reach the same rows and a wiped etcd does not orphan the data.
  const manifests = loadManifests(join(root, "examples")).map((m) =>
    m.kind === "Tenant" && !m.spec?.tenantId
      ? { ...m, spec: { ...m.spec, tenantId: localTenantId(m.metadata?.name as string) } }
      : m,
  );
  const tenantNames = manifests.filter((m) => m.kind === "Tenant").map((m) => m.metadata?.name as string);

  step("ports");
  for (const port of Object.values(ports)) await assertPortFree(port);
  print(
    `gateway ${ports.gateway.port}, router ${ports.router.port}, orchestrator ${ports.orchestrator.port}, operator ${ports.operator.port}`,
  );

  const cleanups: (() => Promise<unknown>)[] = [];
  let supervisor: Supervisor | undefined;
  let fatal: string | null = null;
  let resolveStop: (reason: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    resolveStop = resolve;
  });
  const stopAll = async () => {
    await supervisor?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  process.once("SIGINT", () => resolveStop("Ctrl-C"));
  process.once("SIGTERM", () => resolveStop("SIGTERM"));

  try {
    const supervision = {
      print,
      pidsFile: join(dataDir, "pids"),
      onFatal: (reason: string) => {
        fatal = reason;
        resolveStop(reason);
      },
    };

    step("Slack");
    let sandbox: SlackApiDouble | null = null;
    let slackApiUrl = process.env.SLACK_API_URL;
    const slack = slackChannels(manifests);
    if (!slackApiUrl) {
      sandbox = await startSlackApi({ port: ports.slack.port });
      cleanups.push(() => (sandbox as SlackApiDouble).close());
      for (const channel of slack)
        sandbox.addToken(channel.botToken, { teamId: channel.teamId, botUserId: `U${channel.teamId.slice(1)}BOT` });
      slackApiUrl = sandbox.url;
      print(`SLACK_API_URL is not set: replies to Slack go to a local Slack sandbox at ${sandbox.url} and are printed here.`);
      const shown = new Set<string>();
      const timer = setInterval(() => {
        for (const post of sandbox?.posts() ?? []) {
          if (shown.has(post.ts)) continue;
          shown.add(post.ts);
          print(
            `${color(34, "slack sandbox")} | chat.postMessage ${post.team}/${post.channel} thread ${post.thread_ts}: ${post.text}`,
          );
        }
      }, 250);
      cleanups.push(async () => clearInterval(timer));
    } else {
      print(`Replies to Slack go to ${slackApiUrl}.`);
    }

    step("model");
    const ollamaUrl = process.env.OLLAMA_URL ?? "http://127.0.0.1:11434";
    const reachable = await ollamaReachable(ollamaUrl);
    print(
      reachable
        ? `Ollama answers at ${ollamaUrl}; agents use the models their Agent resources name (pull them with \`ollama pull\`).`
        : `No model is reachable: Ollama does not answer at ${ollamaUrl} (set OLLAMA_URL).\n` +
            "Agents will reply honestly that no language model is reachable; they never pretend to be one.",
    );

    const env: Record<string, string> = {
      DATABASE_URL: required("DATABASE_URL"),
      REDIS_ADMIN_URL: required("REDIS_ADMIN_URL"),
      NATS_URL: required("NATS_URL"),
      SLACK_API_URL: slackApiUrl,
      OLLAMA_URL: ollamaUrl,
      OLLAMA_REACHABLE: String(reachable),
    };

    step("tenants and agents (examples/)");
    const mode = process.env.KONSTRUCT_LOCAL_OPERATOR ?? (clusterAvailable() ? "cluster" : "files");
    let reports: TenantReport[];
    const specs = components(secrets, ports, env);
    if (mode === "cluster") {
      if (!clusterAvailable())
        throw new StartError(
          "KONSTRUCT_LOCAL_OPERATOR=cluster, but the control plane is not built: run scripts/build-control-plane.sh",
        );
      print("Through the operator against a real kube-apiserver (built from Go modules into test/control-plane/bin).");
      print("Starting kube-apiserver and etcd (data in .data/local/etcd)…");
      const cluster: LocalCluster = await startLocalCluster(dataDir);
      cleanups.push(() => cluster.stop());
      print(`kube-apiserver at ${cluster.plane.server}; kubeconfig: ${cluster.plane.adminKubeconfigPath}`);
      specs.unshift(operatorSpec(secrets, ports.operator, cluster.plane.adminKubeconfigPath));
      supervisor = startSupervisor(specs, supervision);
      await applyManifests(cluster, manifests);
      print(`Applied ${manifests.length} objects; waiting for the operator to make ${tenantNames.join(", ")} Ready…`);
      reports = await waitForTenantsReady(cluster, tenantNames, 90_000);
    } else {
      print(
        "No kube-apiserver here (build one with scripts/build-control-plane.sh; it needs Go):\n" +
          "the operator's reconcile functions read examples/ directly, with the same code paths for PostgreSQL, Redis and credentials.",
      );
      reports = await reconcileFromFiles({
        manifestsDir: join(root, "examples"),
        dataDir,
        databaseAdminUrl: required("DATABASE_ADMIN_URL"),
        redisAdminUrl: required("REDIS_ADMIN_URL"),
        secretKey: secrets.KONSTRUCT_SECRET_KEY,
      });
      const notReady = reports.filter((r) => !r.ready);
      if (notReady.length > 0) throw new StartError(`not Ready: ${notReady.map((r) => `${r.name} (${r.reason})`).join("; ")}`);
      print(`Reconciled ${reports.map((r) => r.name).join(", ")}: Ready.`);
      supervisor = startSupervisor(specs, supervision);
    }

    step("services");
    await supervisor.waitReady(90_000);
    for (const spec of specs) print(`${spec.name} is ready (pid ${supervisor.pid(spec.name)})`);
    const endpoints = printEndpoints(reports, ports.gateway.port);

    if (check) {
      step("check");
      const results: CheckResult[] = [];
      const slackReport = reports
        .flatMap((r) => r.channels.map((c) => ({ r, c })))
        .find(({ c }) => c.type === "slack" && c.webhookPath);
      const slackCreds = slack.find((s) => s.tenant === slackReport?.r.name);
      if (!slackReport || !slackCreds || !sandbox) {
        results.push({
          name: "slack",
          ok: false,
          detail: "no ready Slack channel in examples/, or SLACK_API_URL points elsewhere",
        });
      } else {
        results.push(
          await checkSlack(
            {
              teamId: slackCreds.teamId,
              webhookUrl: `http://127.0.0.1:${ports.gateway.port}${slackReport.c.webhookPath}`,
              signingSecret: slackCreds.signingSecret,
              botUserId: `U${slackCreds.teamId.slice(1)}BOT`,
            },
            sandbox,
            60_000,
          ),
        );
      }
      const page = endpoints.webchat[0];
      results.push(
        page
          ? await checkWebchat(page, 60_000)
          : { name: "webchat", ok: false, detail: "no ready web chat channel in examples/" },
      );
      for (const r of results) print(`${r.ok ? color(32, "PASS") : color(31, "FAIL")} ${r.name}: ${r.detail}`);
      const ok = results.every((r) => r.ok);
      print(ok ? "\nThe check passed: Konstruct answered on Slack and on the web chat." : "\nThe check failed; see above.");
      await stopAll();
      return ok ? 0 : 1;
    }

    print("\nPress Ctrl-C to stop.");
    const reason = await stopped;
    step(`stopping (${reason.split("\n")[0]})`);
    await stopAll();
    if (fatal) {
      print(`Stopped because a component kept failing:\n${fatal}`);
      return 1;
    }
    print("Stopped. Data stays in .data/; the next npm start reuses it. Stop the servers with `npm run servers -- stop`.");
    return 0;
  } catch (error) {
    print(`\n${color(31, "npm start failed:")} ${error instanceof Error ? error.message : String(error)}`);
    await stopAll();
    return 1;
  }
}

process.exitCode = await main();
// Child processes and servers are stopped; end even if a library left a timer behind.
setTimeout(() => process.exit(), 200).unref();
