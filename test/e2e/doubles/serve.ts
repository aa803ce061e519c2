/**
 * The test doubles as a container (image `doubles`, built by scripts/kind/build.sh) for the kind
 * end-to-end suite:
 *
 *   node serve.ts slack    the Slack Web API double on $PORT (default 8080), and a control API
 *                          on $CONTROL_PORT (default 9090): GET /calls, GET /posts,
 *                          POST /tokens {token, teamId, botUserId}, POST /reset
 *   node serve.ts ollama   the Ollama double on $OLLAMA_HOST (as `ollama serve` does)
 *
 * The doubles listen on loopback (they are written for tests on one machine); this file puts an
 * HTTP forwarder on all interfaces in front of each, and answers Ollama's `GET /` ("Ollama is
 * running"), which the chart's probes call.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import { startSlackApi } from "../../../services/channels/src/slack/double.ts";
import { startOllamaDouble } from "../../src/doubles/ollama.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function forwardTo(base: string): Handler {
  const target = new URL(base);
  return (req, res) => {
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };
}

function listen(port: number, handler: Handler): Promise<void> {
  return new Promise((resolve) => createServer(handler).listen(port, "0.0.0.0", resolve));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
}

async function serveSlack(): Promise<void> {
  const slack = await startSlackApi();
  const port = Number(process.env.PORT ?? 8080);
  await listen(port, forwardTo(slack.url));
  const control: Handler = (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/calls") return json(res, 200, slack.calls);
    if (req.method === "GET" && path === "/posts") return json(res, 200, slack.posts());
    if (req.method === "GET" && path === "/healthz") return json(res, 200, { ok: true });
    if (req.method === "POST" && path === "/reset") {
      slack.reset();
      return json(res, 200, { ok: true });
    }
    if (req.method === "POST" && path === "/tokens") {
      readJson(req)
        .then((body) => {
          slack.addToken(String(body.token), { teamId: String(body.teamId), botUserId: String(body.botUserId) });
          json(res, 200, { ok: true });
        })
        .catch((error: unknown) => json(res, 400, { error: String(error) }));
      return;
    }
    json(res, 404, { error: `no ${req.method} ${path}` });
  };
  await listen(Number(process.env.CONTROL_PORT ?? 9090), control);
  console.log(`slack double on :${port}, control API on :${process.env.CONTROL_PORT ?? 9090}`);
}

async function serveOllama(): Promise<void> {
  const ollama = await startOllamaDouble();
  const [, port = "11434"] = (process.env.OLLAMA_HOST ?? "0.0.0.0:11434").split(":");
  const forward = forwardTo(ollama.url);
  await listen(Number(port), (req, res) => {
    if ((req.method === "GET" || req.method === "HEAD") && (req.url ?? "/") === "/") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end("Ollama is running");
      return;
    }
    forward(req, res);
  });
  console.log(`ollama double on :${port}`);
}

const which = process.argv[2];
if (which === "slack") await serveSlack();
else if (which === "ollama") await serveOllama();
else {
  console.error("usage: serve.ts slack|ollama");
  process.exit(2);
}
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
