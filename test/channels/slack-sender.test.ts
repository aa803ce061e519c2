import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { createSlackSender, type SlackConnection } from "@konstruct/channels/gateway";
import type { OutboundReply } from "@konstruct/core";
import { type SlackApiDouble, startSlackApi } from "@konstruct/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// How Slack's answers map to what the reply protocol does next, through the sender's own HTTP
// requests (the post) and @slack/web-api (the look for an interrupted post) against the Web API
// double: a rate limit waits Retry-After, refusals that no retry can fix are permanent, a lost or
// failed response may have posted and must be looked for.

const connection: SlackConnection = {
  connectionId: "6f1c1f4e-8a9e-4a5e-9a0b-0c2d4e6f8a10",
  tenantId: "0b5f7c1e-2d3a-4b4c-8d5e-6f708192a3b4",
  teamId: "T0SENDER",
  botToken: "xoxb-sender-test",
  signingSecret: "unused",
};

const reply: OutboundReply = {
  replyId: "reply:slack:T0SENDER:Ev1",
  tenantId: connection.tenantId,
  channelType: "slack",
  connectionId: connection.connectionId,
  target: {
    workspaceId: "T0SENDER",
    channelId: "C0SENDER",
    threadId: "1700000000.000100",
    inReplyToMessageId: "1700000000.000100",
  },
  text: "hello",
  kind: "answer",
  agent: null,
};

let slack: SlackApiDouble;

beforeAll(async () => {
  slack = await startSlackApi({ tokens: { [connection.botToken]: { teamId: "T0SENDER", botUserId: "U0BOT" } } });
});

afterAll(async () => {
  await slack?.close();
});

const sender = (slackApiUrl = slack.url) =>
  createSlackSender({ connections: { get: async () => connection }, slackApiUrl, callTimeoutMs: 2_000 });

describe("Slack's answers, as the reply protocol sees them", () => {
  it("a post is posted in the thread with its token and reply id, and answers with its ts", async () => {
    const result = await sender().post(reply, connection);
    expect(result).toMatchObject({ kind: "posted", messageId: expect.stringMatching(/^\d+\.\d+$/) });
    const stored = slack.posts({ token: connection.botToken }).find((m) => m.ts === (result as { messageId: string }).messageId);
    expect(stored).toMatchObject({
      channel: reply.target.channelId,
      thread_ts: reply.target.threadId,
      text: "hello",
      metadata: { event_type: "konstruct_reply", event_payload: { reply_id: reply.replyId } },
    });
  });

  it("a base URL without its trailing slash still reaches chat.postMessage", async () => {
    expect(await sender(slack.url.replace(/\/$/, "")).post(reply, connection)).toMatchObject({ kind: "posted" });
  });

  it("429 is a rate limit that waits Slack's Retry-After", async () => {
    slack.failNext(1, { status: 429, retryAfter: 7 }, "chat.postMessage");
    expect(await sender().post(reply, connection)).toEqual({ kind: "rate_limited", retryAfterMs: 7_000 });
  });

  it("invalid_auth and channel_not_found are refusals no retry can fix", async () => {
    for (const error of ["invalid_auth", "channel_not_found"]) {
      slack.failNext(1, { error }, "chat.postMessage");
      expect(await sender().post(reply, connection)).toEqual({
        kind: "refused",
        permanent: true,
        detail: `chat.postMessage: ${error}`,
      });
    }
  });

  it("an unknown refusal is retried, and Slack's internal_error may have posted", async () => {
    slack.failNext(1, { error: "some_new_error" }, "chat.postMessage");
    expect(await sender().post(reply, connection)).toMatchObject({ kind: "refused", permanent: false });
    slack.failNext(1, { error: "internal_error" }, "chat.postMessage");
    expect(await sender().post(reply, connection)).toMatchObject({ kind: "uncertain" });
  });

  it("a 5xx, a lost response and a refused connection may have posted: uncertain, looked for before a re-post", async () => {
    slack.failNext(1, { status: 503 }, "chat.postMessage");
    expect(await sender().post(reply, connection)).toMatchObject({ kind: "uncertain", detail: "HTTP 503" });
    slack.failNext(1, { dropResponse: true }, "chat.postMessage");
    expect(await sender().post(reply, connection)).toMatchObject({ kind: "uncertain" });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    expect(await sender(`http://127.0.0.1:${port}/api/`).post(reply, connection)).toMatchObject({ kind: "uncertain" });
  });

  it("an answer slower than the call timeout may have posted: uncertain, not waited for", async () => {
    slack.failNext(1, { delayMs: 3_000 }, "chat.postMessage");
    const slow = createSlackSender({ connections: { get: async () => connection }, slackApiUrl: slack.url, callTimeoutMs: 200 });
    expect(await slow.post(reply, connection)).toMatchObject({ kind: "uncertain" });
  });

  it("a 200 whose body is not Slack's JSON may have posted: uncertain", async () => {
    const garbled = createHttpServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("<html>"));
    await new Promise<void>((resolve) => garbled.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = garbled.address() as { port: number };
      expect(await sender(`http://127.0.0.1:${port}/api/`).post(reply, connection)).toMatchObject({ kind: "uncertain" });
    } finally {
      garbled.closeAllConnections();
      await new Promise((resolve) => garbled.close(resolve));
    }
  });

  it("finds a posted reply by its metadata, says absent when it is not there, and cannot look without permission", async () => {
    const since = Date.now() - 60_000;
    const other = {
      ...reply,
      replyId: "reply:slack:T0SENDER:Ev-not-posted",
      target: { ...reply.target, threadId: "1700000000.000999" },
    };
    const posted = await sender().post(other, connection);
    expect(posted.kind).toBe("posted");
    const found = await sender().find?.(other, connection, since);
    expect(found).toEqual({ kind: "found", messageId: posted.kind === "posted" ? posted.messageId : "" });
    const absent = await sender().find?.({ ...other, replyId: "reply:slack:T0SENDER:Ev-never" }, connection, since);
    expect(absent).toEqual({ kind: "absent" });
    slack.failNext(1, { error: "missing_scope" }, "conversations.replies");
    expect(await sender().find?.(other, connection, since)).toEqual({ kind: "cannot_look", detail: "missing_scope" });
  });
});
