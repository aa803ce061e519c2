import { randomUUID } from "node:crypto";
import { serverUrl } from "@konstruct/testkit";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createBotLoopGuard } from "./bot-loop.ts";
import { createRateLimiter, type RateDecision } from "./rate-limit.ts";

// Two routers = two Redis connections, racing on the same tenant's window in real Redis.
const a = new Redis(serverUrl("REDIS_ADMIN_URL"));
const b = new Redis(serverUrl("REDIS_ADMIN_URL"));
afterAll(() => {
  a.disconnect();
  b.disconnect();
});

describe("rate limit (Redis)", () => {
  it("two concurrent routers over the limit admit exactly the limit and send one notice per window", async () => {
    const tenantId = randomUUID();
    const fixedNow = () => 1_700_000_000_000;
    const routers = [createRateLimiter(a, { now: fixedNow }), createRateLimiter(b, { now: fixedNow })];
    const decisions: RateDecision[] = await Promise.all(
      Array.from({ length: 60 }, (_, i) => routers[i % 2]!.check(tenantId, 10)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(decisions.filter((d) => !d.allowed && d.notify)).toHaveLength(1);

    // The next window starts afresh, with its own single notice.
    const later = createRateLimiter(a, { now: () => fixedNow() + 60_000 });
    const next = await Promise.all(Array.from({ length: 12 }, () => later.check(tenantId, 10)));
    expect(next.filter((d) => d.allowed)).toHaveLength(10);
    expect(next.filter((d) => !d.allowed && d.notify)).toHaveLength(1);
  });

  it("keeps tenants' windows apart", async () => {
    const limiter = createRateLimiter(a);
    const [t1, t2] = [randomUUID(), randomUUID()];
    for (let i = 0; i < 3; i++) await limiter.check(t1, 3);
    expect((await limiter.check(t1, 3)).allowed).toBe(false);
    expect((await limiter.check(t2, 3)).allowed).toBe(true);
  });
});

describe("bot-loop budget (Redis)", () => {
  it("spends a budget per pair of bots, shared by replicas, and ignores people", async () => {
    const tenantId = randomUUID();
    const guards = [createBotLoopGuard(a, 4, 60), createBotLoopGuard(b, 4, 60)];
    const fromBot = (sender: string) =>
      ({ channelType: "slack", channel: { botUserId: "UBOT" }, sender: { id: sender, isBot: true } }) as never;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => guards[i % 2]!.allow(tenantId, fromBot("UOTHER"))));
    expect(results.filter(Boolean)).toHaveLength(4);
    expect(await guards[0]!.allow(tenantId, fromBot("UTHIRD"))).toBe(true);
    const person = { channelType: "slack", channel: { botUserId: "UBOT" }, sender: { id: "UP", isBot: false } } as never;
    expect(await guards[0]!.allow(tenantId, person)).toBe(true);
  });
});
