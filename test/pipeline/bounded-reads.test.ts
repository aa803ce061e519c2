import { randomUUID } from "node:crypto";
import { createLogger, type KonstructMessage } from "@konstruct/core";
import { createSessionMemory, sessionKey } from "@konstruct/orchestrator";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// What the services load from Redis is bounded, whatever a key has grown to.

let redis: Redis;

beforeAll(() => {
  redis = new Redis(process.env.REDIS_ADMIN_URL as string, { maxRetriesPerRequest: 1 });
});
afterAll(() => {
  redis?.disconnect();
});

describe("session memory", () => {
  it("skips an oversized turn with a warning, and stops at the total budget, newest turns first", async () => {
    const tenantId = randomUUID();
    // Only what the key is built from.
    const message = {
      channelType: "slack",
      channel: { workspaceId: "T1", channelId: "C1" },
      threadId: "1.2",
    } as unknown as KonstructMessage;
    const key = sessionKey(tenantId, message);
    const turn = (content: string) => JSON.stringify({ role: "user", content });
    await redis.rpush(key, turn("oldest"), turn("x".repeat(400)), turn("a".repeat(200)), turn("y".repeat(5_000)), turn("newest"));
    await redis.expire(key, 60);
    const warnings: unknown[] = [];
    const log = createLogger({ name: "test", level: "warn" });
    log.warn = ((obj: unknown) => {
      warnings.push(obj);
    }) as typeof log.warn;
    const memory = createSessionMemory(redis, 60, log, { maxTurnBytes: 1_000, maxTotalBytes: 600 });
    const loaded = await memory.load(tenantId, message, 10);
    // Each turn is ~30 bytes of JSON plus its content: newest fits, the 5,000-byte turn is
    // skipped, the 200-character one fits, the 400-character one no longer does, so loading stops.
    expect(loaded.map((t) => t.content)).toEqual(["a".repeat(200), "newest"]);
    expect(warnings).toEqual([expect.objectContaining({ tenantId, skipped: 1 })]);
    await redis.del(key);
  });
});
