import { declareStreams, natsUrlFor, STREAM_NAMES } from "@konstruct/core";
import { runChecks } from "./checks.ts";
import { type Connections, gatewayUrl, portalSpec, portalUrl, serviceSpecs } from "./components.ts";
import { printEndpoints } from "./endpoints.ts";
import { required } from "./environment.ts";
import { loadExamples } from "./examples.ts";
import { Lifetime } from "./lifetime.ts";
import { connectMessagingApis } from "./messaging-sandboxes.ts";
import { findModel } from "./model.ts";
import { color, print, step } from "./output.ts";
import { examplesDir, localDataDir } from "./paths.ts";
import { operatorMode, startPlatform } from "./platform.ts";
import { assertPortsFree, localPorts } from "./ports.ts";
import { loadLocalSecrets } from "./secrets.ts";
import { connectSlack } from "./slack-sandbox.ts";

/**
 * `npm start` after scripts/start.sh has installed packages, started PostgreSQL, Redis and NATS
 * and migrated: reconciles `examples/` with the operator's own code, runs the gateway, router
 * and orchestrator as supervised processes, prints where to talk to the agents, and keeps
 * running until Ctrl-C. `--check` instead proves one Slack and one web chat round trip and
 * exits 0 or 1.
 */
async function main(env: NodeJS.ProcessEnv, check: boolean): Promise<number> {
  const dataDir = localDataDir(env);
  const ports = localPorts(env);
  const secrets = loadLocalSecrets(dataDir, env);
  const examples = loadExamples(examplesDir);
  const logLevel = env.LOG_LEVEL ?? "info";
  const lifetime = new Lifetime(dataDir);
  try {
    step("ports");
    await assertPortsFree(ports);
    print(
      `gateway ${ports.gateway.port}, router ${ports.router.port}, orchestrator ${ports.orchestrator.port}, operator ${ports.operator.port}, portal ${ports.portal.port}`,
    );

    step("Slack");
    const slack = await connectSlack(env.SLACK_API_URL, examples.manifests, ports.slack, lifetime);

    step("Telegram and WhatsApp");
    const messaging = await connectMessagingApis(env, examples.manifests, lifetime);

    step("model");
    const model = await findModel(env.OLLAMA_URL);

    step("NATS streams");
    const connections: Connections = {
      databaseUrl: required(env, "DATABASE_URL"),
      redisAdminUrl: required(env, "REDIS_ADMIN_URL"),
      natsUrl: required(env, "NATS_URL"),
      slackApiUrl: slack.apiUrl,
      ...messaging,
      model,
      logLevel,
    };
    // As the `jetstream` user, as in a cluster: the services may only declare their own consumers.
    const streams = await declareStreams(
      natsUrlFor(connections.natsUrl, "jetstream", secrets.NATS_PASSWORDS.jetstream),
      "konstruct-local-streams",
    );
    print(`${STREAM_NAMES.join(", ")} declared`);
    // A stream of an older version still holding messages is kept and replaced on a later start:
    // a development server full of old test messages must not stop the platform from starting.
    for (const kept of streams.filter((s) => s.action === "kept")) print(color(33, `warning: ${kept.reason}`));

    step("tenants and agents (examples/)");
    const platform = await startPlatform(operatorMode(env), {
      examples,
      services: serviceSpecs(secrets, ports, connections),
      portal: (kubeconfig) => portalSpec(ports, connections, kubeconfig),
      secrets,
      operatorPort: ports.operator,
      // The operator registers the examples' Telegram webhooks at the local gateway, with the sandbox.
      operatorEnv: { PUBLIC_BASE_URL: gatewayUrl(ports), TELEGRAM_API_URL: messaging.telegramApiUrl },
      dataDir,
      databaseOperatorUrl: required(env, "DATABASE_OPERATOR_URL"),
      redisAdminUrl: connections.redisAdminUrl,
      logLevel,
      lifetime,
      portalUrl: portalUrl(ports),
    });

    step("services");
    await platform.supervisor.waitReady(90_000);
    for (const spec of platform.specs) print(`${spec.name} is ready (pid ${platform.supervisor.pid(spec.name)})`);
    const webchatPages = printEndpoints(platform.reports, ports.gateway.port, { portalUrl: portalUrl(ports) });

    if (check) {
      step("check");
      const ok = await runChecks({ reports: platform.reports, slack, gatewayPort: ports.gateway.port, webchatPages });
      await lifetime.stop();
      return ok ? 0 : 1;
    }
    return await runUntilStopped(lifetime);
  } catch (error) {
    print(`\n${color(31, "npm start failed:")} ${error instanceof Error ? error.message : String(error)}`);
    await lifetime.stop();
    return 1;
  }
}

/** Waits for Ctrl-C (or a component that keeps failing), then stops everything. */
async function runUntilStopped(lifetime: Lifetime): Promise<number> {
  print("\nPress Ctrl-C to stop.");
  const reason = await lifetime.stopped;
  step(`stopping (${reason.split("\n")[0]})`);
  await lifetime.stop();
  if (lifetime.fatal) {
    print(`Stopped because a component kept failing:\n${lifetime.fatal}`);
    return 1;
  }
  print("Stopped. Data stays in .data/; the next npm start reuses it. Stop the servers with `npm run servers -- stop`.");
  return 0;
}

process.exitCode = await main(process.env, process.argv.includes("--check"));
// Child processes and servers are stopped; end even if a library left a timer behind.
setTimeout(() => process.exit(), 200).unref();
