import { randomUUID } from "node:crypto";
import { type SlackApiDouble, signSlackRequest } from "@konstruct/testkit";

/**
 * `npm start -- --check`: proves the running platform answers, the way a person would see it —
 * a signed Slack event in through the webhook and a web chat message through the page's API,
 * each answered by the agent.
 */

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
