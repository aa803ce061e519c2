// Webhook ack benchmark: the gateway's Slack route vs. a bare fastify handler vs. a bare fastify
// handler that only stores the body in JetStream (the gateway's ceiling: what any webhook costs
// that is acked after its PubAck) vs. @slack/bolt's HTTPReceiver, on one signed Slack payload, in
// one run. Prints figures; asserts nothing.
//
//   eval "$(bash scripts/servers.sh env)"   # the gateway publishes to a real JetStream
//   node services/gateway/bench/webhook-ack.ts
//
// Each server runs in its own child process (this file with `--serve <target>`), so the load
// generator (autocannon, in this process) never shares an event loop with the server it
// measures. Per target: a throughput phase (autocannon, closed loop, 50 connections) and a
// latency phase (open loop at 1,000 requests/s, paced here; see `paced`). Bounded by time:
// BENCH_SECONDS per phase (default 8), so the whole run takes about 6 × that.
import { type ChildProcess, fork } from "node:child_process";
import { createHmac } from "node:crypto";
import { Agent, request } from "node:http";
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const SECRET = "bench-signing-secret";
const TARGETS = ["bare-fastify", "fastify+pubAck", "gateway", "bolt-http-receiver"] as const;
type Target = (typeof TARGETS)[number];
const PATHS: Record<Target, string> = {
  "bare-fastify": "/webhooks/slack/events",
  "fastify+pubAck": "/webhooks/slack/events",
  gateway: "/webhooks/slack/events",
  "bolt-http-receiver": "/slack/events",
};

const BODY = JSON.stringify({
  token: "legacy",
  team_id: "TBENCH",
  api_app_id: "ABENCH",
  type: "event_callback",
  event_id: "EvBENCH0001",
  event_time: 1_700_000_000,
  authorizations: [{ team_id: "TBENCH", user_id: "UBOT", is_bot: true }],
  event: {
    type: "app_mention",
    user: "UHUMAN",
    text: "<@UBOT> what is our refund policy for annual plans?",
    ts: "1700000000.000100",
    channel: "CBENCH",
    event_ts: "1700000000.000100",
    team: "TBENCH",
  },
});

async function serve(target: Target): Promise<number> {
  if (target === "bare-fastify") {
    const { default: Fastify } = await import("fastify");
    const app = Fastify();
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer" }, (_r, body, done) => done(null, body));
    app.post(PATHS[target], async (_request, reply) => reply.status(200).send());
    await app.listen({ port: 0, host: "127.0.0.1" });
    return (app.server.address() as { port: number }).port;
  }
  if (target === "fastify+pubAck") {
    // No signature, no parse, no validation, no metrics: the body, published through the
    // gateway's own publisher (writes batched per event-loop turn) with the same subject and
    // message id as the gateway's (every copy after the first a duplicate the server drops, as
    // for the gateway here), and the 200 after the PubAck.
    const { connectNats, deliveryKey, ensureJetStream, inboundSubject } = await import("@konstruct/core");
    const { jetstream, jetstreamManager } = await import("@nats-io/jetstream");
    const { default: Fastify } = await import("fastify");
    const { createJetStreamPublisher } = await import("../src/index.ts");
    const nc = await connectNats(natsUrlOrExit(), "konstruct-bench");
    await ensureJetStream(await jetstreamManager(nc));
    const publisher = createJetStreamPublisher(jetstream(nc));
    const subject = inboundSubject("slack");
    const msgId = deliveryKey({
      channelType: "slack",
      channel: { workspaceId: "TBENCH" },
      deliveryId: "EvBENCH0001",
    } as Parameters<typeof deliveryKey>[0]);
    const app = Fastify();
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "string" }, (_r, body, done) => done(null, body));
    app.post(PATHS[target], async (request, reply) => {
      await publisher.publish(subject, request.body, msgId);
      return reply.status(200).send();
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    return (app.server.address() as { port: number }).port;
  }
  if (target === "gateway") {
    const { ack, connectNats, createLogger, ensureJetStream } = await import("@konstruct/core");
    const { jetstream, jetstreamManager } = await import("@nats-io/jetstream");
    const { buildApp, createJetStreamPublisher, createMetrics } = await import("../src/index.ts");
    const { slackIngress } = await import("@konstruct/channels/gateway");
    const nc = await connectNats(natsUrlOrExit(), "konstruct-bench");
    await ensureJetStream(await jetstreamManager(nc));
    const metrics = createMetrics();
    // The gateway's own logger (secrets scrubbed), as in production: fastify makes a child of it per request.
    const log = createLogger({ name: "gateway", level: "warn" });
    const publisher = createJetStreamPublisher(jetstream(nc));
    const app = await buildApp({
      channels: [
        {
          type: "slack",
          plugin: async (instance) => {
            await instance.register(slackIngress, {
              publisher,
              connections: { get: async () => null },
              platformSigningSecret: SECRET,
              metrics,
              log,
            });
          },
          outbound: async () => ack,
        },
      ],
      metrics,
      readiness: [],
      log,
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    return (app.server.address() as { port: number }).port;
  }
  const { App, HTTPReceiver, LogLevel } = await import("@slack/bolt");
  const receiver = new HTTPReceiver({ signingSecret: SECRET, endpoints: PATHS[target], logLevel: LogLevel.ERROR });
  // botId and botUserId given, so Bolt authorizes locally instead of calling auth.test on the real Slack.
  const app = new App({
    receiver,
    token: "xoxb-bench",
    botId: "BBENCH",
    botUserId: "UBOT",
    tokenVerificationEnabled: false,
    logLevel: LogLevel.ERROR,
  });
  app.event("app_mention", async () => {});
  const server = await receiver.start(0);
  return (server.address() as { port: number }).port;
}

function natsUrlOrExit(): string {
  const natsUrl = process.env.NATS_URL;
  if (!natsUrl) throw new Error('NATS_URL is not set: eval "$(bash scripts/servers.sh env)" first');
  return natsUrl;
}

async function startChild(target: Target): Promise<{ child: ChildProcess; port: number }> {
  // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there on exit (open in Chrome DevTools).
  const profileDir = process.env.BENCH_CPU_PROF;
  const child = fork(fileURLToPath(import.meta.url), ["--serve", target], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: [
      ...process.execArgv,
      ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${target}.cpuprofile`] : []),
    ],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("message", (m) => resolve((m as { port: number }).port));
    child.once("exit", (code) => reject(new Error(`${target} server exited with ${code}`)));
  });
  return { child, port };
}

interface Figures {
  target: Target;
  throughput: number;
  /** Server CPU time (all its threads) per request in the throughput phase, µs: steadier than req/s on a shared machine. */
  cpuPerRequest: number;
  p50: number;
  p99: number;
  max: number;
  rate: number;
  errors: number;
}

/**
 * Open loop at `rate` requests/s for `seconds`: request i is due at start + i/rate and sent then
 * (several per timer tick when the timer is late), whatever the answers, over keep-alive
 * sockets. Latency runs from the due time, not the send time, so a late sender cannot hide a
 * slow server (coordinated omission). autocannon's `overallRate` is not used because it sends
 * each connection's share of a second back to back at the start of the second: a burst of
 * 50 concurrent requests each second, not a rate.
 */
async function paced(
  target: { port: number; path: string; headers: Record<string, string>; body: string },
  rate: number,
  seconds: number,
): Promise<{ p50: number; p99: number; max: number; rate: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const headers = { ...target.headers, "content-length": String(Buffer.byteLength(target.body)) };
  const total = rate * seconds;
  const latencies: number[] = [];
  let errors = 0;
  let answered = 0;
  const all = new Promise<void>((resolve) => {
    const settle = (due: number, ok: boolean) => {
      if (ok) latencies.push(performance.now() - due);
      else errors++;
      if (++answered === total) resolve();
    };
    const start = performance.now();
    let sent = 0;
    const tick = () => {
      const now = performance.now();
      for (; sent < total && start + (sent * 1_000) / rate <= now; sent++) {
        const due = start + (sent * 1_000) / rate;
        const req = request(
          { agent, host: "127.0.0.1", port: target.port, method: "POST", path: target.path, headers },
          (res) => {
            res.resume();
            res.once("end", () => settle(due, res.statusCode === 200));
          },
        );
        req.once("error", () => settle(due, false));
        req.end(target.body);
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1_000) / rate - performance.now()));
    };
    tick();
  });
  const started = performance.now();
  await all;
  const elapsed = (performance.now() - started) / 1_000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return { p50: pct(0.5), p99: pct(0.99), max: latencies.at(-1) ?? Number.NaN, rate: total / elapsed, errors };
}

/** The child's `process.cpuUsage()`, asked over IPC. */
function cpuOf(child: ChildProcess): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as NodeJS.CpuUsage));
    child.send("cpu");
  });
}

async function measure(target: Target, seconds: number): Promise<Figures> {
  const { default: autocannon } = await import("autocannon");
  const { child, port } = await startChild(target);
  try {
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      "content-type": "application/json",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": `v0=${createHmac("sha256", SECRET).update(`v0:${timestamp}:${BODY}`).digest("hex")}`,
    };
    const url = `http://127.0.0.1:${port}${PATHS[target]}`;
    const base = { url, method: "POST" as const, headers, body: BODY };
    // Warm-up: JIT, connection pools, the first JetStream publish.
    await autocannon({ ...base, connections: 10, amount: 2_000 });
    const cpuBefore = await cpuOf(child);
    const closed = await autocannon({ ...base, connections: 50, duration: seconds });
    const cpu = await cpuOf(child);
    const cpuPerRequest = (cpu.user + cpu.system - cpuBefore.user - cpuBefore.system) / closed.requests.total;
    const open = await paced({ port, path: PATHS[target], headers, body: BODY }, 1_000, seconds);
    const errors = closed.errors + closed.timeouts + closed.non2xx + open.errors;
    return { target, throughput: closed.requests.average, cpuPerRequest, ...open, errors };
  } finally {
    child.kill("SIGTERM");
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 8);
  const loadBefore = loadavg()[0]!;
  const results: Figures[] = [];
  // BENCH_TARGETS=gateway,bare-fastify: a subset, e.g. while profiling one of them.
  const only = process.env.BENCH_TARGETS?.split(",");
  for (const target of TARGETS.filter((t) => !only || only.includes(t))) {
    process.stderr.write(`bench: ${target}…\n`);
    results.push(await measure(target, seconds));
  }
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  console.log(`\nSlack webhook ack, same signed ${BODY.length}-byte payload, loopback, ${seconds}s per phase`);
  // Latency goals mean little on a busy machine: say how busy it was.
  console.log(
    `machine: ${availableParallelism()} CPUs, 1-min load ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`,
  );
  console.log(
    `${"target".padEnd(20)}${pad("throughput req/s", 18)}${pad("µs CPU/req", 12)}${pad("rate req/s", 12)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("max ms", 9)}${pad("errors", 8)}`,
  );
  for (const r of results) {
    console.log(
      `${r.target.padEnd(20)}${pad(r.throughput.toFixed(0), 18)}${pad(r.cpuPerRequest.toFixed(0), 12)}${pad(r.rate.toFixed(0), 12)}${pad(r.p50.toFixed(2), 9)}${pad(r.p99.toFixed(2), 9)}${pad(r.max.toFixed(2), 9)}${pad(r.errors, 8)}`,
    );
  }
  const gateway = results.find((r) => r.target === "gateway");
  const bolt = results.find((r) => r.target === "bolt-http-receiver");
  if (gateway && bolt) {
    console.log(
      `\ngoals: gateway ack p99 at 1,000/s = ${gateway.p99.toFixed(2)} ms (goal < 20 ms: ${gateway.p99 < 20 ? "met" : "MISSED"}); ` +
        `gateway / Bolt throughput = ${(gateway.throughput / bolt.throughput).toFixed(2)}× (goal ≥ 2×: ${gateway.throughput >= 2 * bolt.throughput ? "met" : "MISSED"})`,
    );
  }
  const ceiling = results.find((r) => r.target === "fastify+pubAck");
  if (ceiling && bolt) {
    console.log(
      `ceiling: fastify + a PubAck'd publish alone / Bolt = ${(ceiling.throughput / bolt.throughput).toFixed(2)}× throughput, ` +
        `${(bolt.cpuPerRequest / ceiling.cpuPerRequest).toFixed(2)}× less CPU per request (the gateway: ${gateway ? (bolt.cpuPerRequest / gateway.cpuPerRequest).toFixed(2) : "?"}×)`,
    );
  }
  console.log("gateway = signature check + JSON parse + normalize + JetStream publish (msgID de-duplicated) per request");
}

const serveIndex = process.argv.indexOf("--serve");
if (serveIndex >= 0) {
  const target = process.argv[serveIndex + 1] as Target;
  const port = await serve(target);
  process.send?.({ port });
  process.on("message", () => process.send?.(process.cpuUsage()));
  process.on("SIGTERM", () => process.exit(0));
} else {
  await main();
}
