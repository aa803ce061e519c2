import type { OutboundReply } from "@konstruct/core";
import { pino } from "pino";
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { ChannelMetrics } from "./host.ts";
import type { LedgerEntry, ReplyLedger } from "./reply-ledger.ts";
import { createReplyDelivery, type LookupResult, type PostResult, type ReplySender } from "./reply-protocol.ts";

// The protocol's decisions over an in-memory ledger; the Redis ledger and Slack's sender are
// proven against real servers in test/gateway.

function memoryLedger(): ReplyLedger & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  let n = 0;
  const owned = (id: string, owner: string) => (JSON.parse(entries.get(id) ?? "{}") as { owner?: string }).owner === owner;
  return {
    entries,
    async claim(_t, id) {
      const raw = entries.get(id);
      if (raw !== undefined) return { claimed: false, entry: JSON.parse(raw) as LedgerEntry, raw };
      const owner = `o${++n}`;
      entries.set(id, JSON.stringify({ state: "pending", at: Date.now(), owner }));
      return { claimed: true, owner };
    },
    async takeOver(_t, id, raw) {
      if (entries.get(id) !== raw) return null;
      const owner = `o${++n}`;
      entries.set(id, JSON.stringify({ state: "pending", at: Date.now(), owner }));
      return owner;
    },
    async markPosted(_t, id, messageId) {
      entries.set(id, JSON.stringify({ state: "posted", at: Date.now(), messageId }));
    },
    async markUncertain(_t, id, owner) {
      if (owned(id, owner)) entries.set(id, JSON.stringify({ state: "uncertain", at: Date.now(), owner }));
    },
    async release(_t, id, owner) {
      if (owned(id, owner)) entries.delete(id);
    },
  };
}

function metrics(): ChannelMetrics {
  const registers = [new Registry()];
  return {
    webhooks: new Counter({ name: "w", help: "w", labelNames: ["channel", "result"], registers }),
    publishSeconds: new Histogram({ name: "p", help: "p", labelNames: ["channel"], registers }),
    posts: new Counter({ name: "o", help: "o", labelNames: ["channel", "result"], registers }),
    postSeconds: new Histogram({ name: "s", help: "s", labelNames: ["channel"], registers }),
  };
}

const reply: OutboundReply = {
  replyId: "reply:test:T1:Ev1",
  tenantId: "0b5f7c1e-2d3a-4b4c-8d5e-6f708192a3b4",
  channelType: "test",
  connectionId: "6f1c1f4e-8a9e-4a5e-9a0b-0c2d4e6f8a10",
  target: { workspaceId: "T1", channelId: "C1", threadId: "1.1", inReplyToMessageId: "1.1" },
  text: "hello",
  kind: "answer",
  agent: null,
};

/** A channel whose posts follow a script, recording each post it was asked for. */
function scriptedSender(results: PostResult[], options: { find?: () => Promise<LookupResult>; idempotent?: boolean } = {}) {
  const posts: string[] = [];
  const sender: ReplySender<{ id: string }> = {
    channel: "test",
    async target() {
      return { ok: true, connection: { id: "c" } };
    },
    async post(r) {
      posts.push(r.replyId);
      return results.shift() ?? { kind: "posted", messageId: `m${posts.length}` };
    },
    ...(options.find ? { find: options.find } : {}),
    ...(options.idempotent ? { idempotent: true } : {}),
  };
  return { sender, posts };
}

const log = pino({ level: "silent" });
const first = { deliveryCount: 1 };

describe("the at-most-once reply protocol", () => {
  it("posts once and acks every later delivery without posting", async () => {
    const { sender, posts } = scriptedSender([]);
    const deliver = createReplyDelivery(sender, { ledger: memoryLedger(), metrics: metrics(), log });
    expect(await deliver(reply, first)).toEqual({ kind: "ack" });
    expect(await deliver(reply, { deliveryCount: 2 })).toEqual({ kind: "ack" });
    expect(posts).toHaveLength(1);
  });

  it("waits while another delivery holds a fresh claim", async () => {
    const ledger = memoryLedger();
    await ledger.claim(reply.tenantId, reply.replyId);
    const { sender, posts } = scriptedSender([]);
    const outcome = await createReplyDelivery(sender, { ledger, metrics: metrics(), log })(reply, first);
    expect(outcome.kind).toBe("retry");
    expect(posts).toHaveLength(0);
  });

  it("after an uncertain post, looks before posting again: found means no second post", async () => {
    const ledger = memoryLedger();
    let looked = 0;
    const { sender, posts } = scriptedSender([{ kind: "uncertain", detail: "socket hang up" }], {
      find: async () => {
        looked++;
        return { kind: "found", messageId: "m1" };
      },
    });
    const deliver = createReplyDelivery(sender, { ledger, metrics: metrics(), log });
    expect((await deliver(reply, first)).kind).toBe("retry");
    expect(await deliver(reply, { deliveryCount: 2 })).toEqual({ kind: "ack" });
    expect(posts).toHaveLength(1);
    expect(looked).toBe(1);
    expect(JSON.parse(ledger.entries.get(reply.replyId) ?? "{}")).toMatchObject({ state: "posted", messageId: "m1" });
  });

  it("after an uncertain post, posts again when the channel shows it is absent", async () => {
    const { sender, posts } = scriptedSender([{ kind: "uncertain", detail: "timeout" }], {
      find: async () => ({ kind: "absent" }),
    });
    const deliver = createReplyDelivery(sender, { ledger: memoryLedger(), metrics: metrics(), log });
    await deliver(reply, first);
    expect(await deliver(reply, { deliveryCount: 2 })).toEqual({ kind: "ack" });
    expect(posts).toHaveLength(2);
  });

  it("dead-letters an interrupted post it cannot verify, for a channel with no way to look", async () => {
    const { sender, posts } = scriptedSender([{ kind: "uncertain", detail: "timeout" }]);
    const deliver = createReplyDelivery(sender, { ledger: memoryLedger(), metrics: metrics(), log });
    await deliver(reply, first);
    const outcome = await deliver(reply, { deliveryCount: 2 });
    expect(outcome.kind).toBe("poison");
    expect(posts).toHaveLength(1);
  });

  it("releases the claim on a rate limit and retries after the channel's Retry-After", async () => {
    const ledger = memoryLedger();
    const { sender, posts } = scriptedSender([{ kind: "rate_limited", retryAfterMs: 7_000 }]);
    const deliver = createReplyDelivery(sender, { ledger, metrics: metrics(), log });
    expect(await deliver(reply, first)).toMatchObject({ kind: "retry", delayMs: 7_000 });
    expect(ledger.entries.has(reply.replyId)).toBe(false);
    expect(await deliver(reply, { deliveryCount: 2 })).toEqual({ kind: "ack" });
    expect(posts).toHaveLength(2);
  });

  it("dead-letters a permanent refusal and retries a transient one", async () => {
    const permanent = scriptedSender([{ kind: "refused", permanent: true, detail: "channel_not_found" }]);
    expect(
      (await createReplyDelivery(permanent.sender, { ledger: memoryLedger(), metrics: metrics(), log })(reply, first)).kind,
    ).toBe("poison");
    const transient = scriptedSender([{ kind: "refused", permanent: false, detail: "ratelimited elsewhere" }]);
    expect(
      (await createReplyDelivery(transient.sender, { ledger: memoryLedger(), metrics: metrics(), log })(reply, first)).kind,
    ).toBe("retry");
  });

  it("never delivers a reply whose connection does not match, and skips the ledger for idempotent senders", async () => {
    const ledger = memoryLedger();
    const { sender } = scriptedSender([], { idempotent: true });
    const refusing: ReplySender<{ id: string }> = { ...sender, target: async () => ({ ok: false, reason: "not this tenant's" }) };
    expect(await createReplyDelivery(refusing, { ledger, metrics: metrics(), log })(reply, first)).toEqual({
      kind: "poison",
      reason: "not this tenant's",
    });
    expect(await createReplyDelivery(sender, { ledger, metrics: metrics(), log })(reply, first)).toEqual({ kind: "ack" });
    expect(ledger.entries.size).toBe(0);
  });
});
