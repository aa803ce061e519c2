import { randomUUID } from "node:crypto";
import type { TenantReport } from "./cluster.ts";
import { color, print } from "./output.ts";
import { type SlackApiDouble, type SlackConnection, sandboxBotUserId, signSlackRequest } from "./slack-sandbox.ts";

/**
 * `npm start -- --check`: proves the running platform answers, the way a person would see it —
 * a signed Slack event in through the webhook and a web chat message through the page's API,
 * each answered by the agent.
 */

/** What the checks talk to: the tenants as reconciled, the Slack sandbox, the web chat pages. */
export interface CheckTargets {
  reports: TenantReport[];
  slack: SlackConnection;
  gatewayPort: number;
  webchatPages: string[];
}

/** Runs the Slack and web chat checks, prints PASS or FAIL for each, and returns whether both passed. */
export async function runChecks({ reports, slack, gatewayPort, webchatPages }: CheckTargets): Promise<boolean> {
  const results: CheckResult[] = [];
  const slackReport = reports
    .flatMap((r) => r.channels.map((c) => ({ r, c })))
    .find(({ c }) => c.type === "slack" && c.webhookPath);
  const slackCreds = slack.channels.find((s) => s.tenant === slackReport?.r.name);
  if (!slackReport || !slackCreds || !slack.sandbox) {
    results.push({ name: "slack", ok: false, detail: "no ready Slack channel in examples/, or SLACK_API_URL points elsewhere" });
  } else {
    const target = {
      teamId: slackCreds.teamId,
      webhookUrl: `http://127.0.0.1:${gatewayPort}${slackReport.c.webhookPath}`,
      signingSecret: slackCreds.signingSecret,
      botUserId: sandboxBotUserId(slackCreds.teamId),
    };
    results.push(await checkSlack(target, slack.sandbox, 60_000));
  }
  const page = webchatPages[0];
  results.push(
    page ? await checkWebchat(page, 60_000) : { name: "webchat", ok: false, detail: "no ready web chat channel in examples/" },
  );
  for (const r of results) print(`${r.ok ? color(32, "PASS") : color(31, "FAIL")} ${r.name}: ${r.detail}`);
  const ok = results.every((r) => r.ok);
  print(ok ? "\nThe check passed: Konstruct answered on Slack and on the web chat." : "\nThe check failed; see above.");
  return ok;
}

/** The outcome of one check. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** A Slack channel as the operator reported it, with the signing secret from its Secret. */
export interface SlackTarget {
  teamId: string;
  webhookUrl: string;
  signingSecret: string;
  botUserId: string;
}

/**
 * Sends a signed `app_mention` — then the same event again as Slack's three retries would — and
 * waits for exactly one threaded reply in the Slack sandbox.
 */
export async function checkSlack(target: SlackTarget, sandbox: SlackApiDouble, timeoutMs: number): Promise<CheckResult> {
  const name = "slack";
  const ts = `${Math.floor(Date.now() / 1000)}.${String(Date.now() % 1_000_000).padStart(6, "0")}`;
  const channel = "CKONSTRUCTCHECK";
  const body = JSON.stringify({
    token: "local-check",
    team_id: target.teamId,
    api_app_id: "ALOCALCHECK",
    type: "event_callback",
    event_id: `Ev${randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: target.teamId, user_id: target.botUserId, is_bot: true }],
    event: {
      type: "app_mention",
      user: "ULOCALCHECK",
      text: `<@${target.botUserId}> Hello! This is npm start's check: are you there?`,
      ts,
      channel,
      event_ts: ts,
      team: target.teamId,
    },
  });
  for (let attempt = 0; attempt < 4; attempt++) {
    const headers = {
      ...signSlackRequest(target.signingSecret, body),
      ...(attempt > 0 ? { "x-slack-retry-num": String(attempt), "x-slack-retry-reason": "http_timeout" } : {}),
    };
    const response = await fetch(target.webhookUrl, { method: "POST", headers, body });
    if (response.status !== 200) {
      return { name, ok: false, detail: `delivery ${attempt + 1} of the event got ${response.status}: ${await response.text()}` };
    }
  }
  let post: { text: string } | undefined;
  try {
    [post] = await sandbox.waitForPosts(1, { channel, thread_ts: ts }, timeoutMs);
  } catch {
    return { name, ok: false, detail: `no reply was posted to Slack within ${timeoutMs / 1000} s` };
  }
  // A second reply to the retries would come right behind the first; give it the time to.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const posts = sandbox.posts({ channel, thread_ts: ts }).length;
  if (posts !== 1) return { name, ok: false, detail: `the event, delivered 4 times, got ${posts} replies instead of 1` };
  return { name, ok: true, detail: `one reply in the thread to 4 deliveries of the event: ${JSON.stringify(post?.text)}` };
}

/** Opens a web chat session, sends a message and reads the reply from the event stream. */
export async function checkWebchat(pageUrl: string, timeoutMs: number): Promise<CheckResult> {
  const name = "webchat";
  const base = pageUrl.endsWith("/") ? pageUrl : `${pageUrl}/`;
  const page = await fetch(base);
  if (!page.ok) return { name, ok: false, detail: `the page answered ${page.status}` };
  const session = await fetch(new URL("session", base), { method: "POST" });
  if (!session.ok) return { name, ok: false, detail: `opening a session answered ${session.status}: ${await session.text()}` };
  const { token } = (await session.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}` };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const events = await fetch(new URL("events", base), {
      headers: { ...auth, accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (!events.ok || !events.body) return { name, ok: false, detail: `the event stream answered ${events.status}` };
    const sent = await fetch(new URL("messages", base), {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        clientMessageId: `check-${randomUUID().slice(0, 8)}`,
        text: "Hello! This is npm start's check: are you there?",
      }),
    });
    if (sent.status !== 202) return { name, ok: false, detail: `sending answered ${sent.status}: ${await sent.text()}` };
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of events.body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split("\n").find((line) => line.startsWith("data: "));
        if (!event.includes("event: message") || !data) continue;
        const entry = JSON.parse(data.slice(6)) as { kind: string; text: string };
        if (entry.kind === "agent") return { name, ok: true, detail: `the agent answered: ${JSON.stringify(entry.text)}` };
      }
    }
    return { name, ok: false, detail: "the event stream ended without a reply" };
  } catch (error) {
    if (controller.signal.aborted) return { name, ok: false, detail: `no reply within ${timeoutMs / 1000} s` };
    return { name, ok: false, detail: String(error) };
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
