import { WebhookError } from "@konstruct/channels/gateway";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { createJetStreamPublisher, RETRY_AFTER_SECONDS } from "./inbound-publisher.ts";

/** A JetStream that stores by msgID (duplicates flagged), refuses one poisoned id, and records what reached it. */
function fakeJetStream(refuse: string) {
  const stored = new Map<string, string>();
  const js = {
    async publish(_subject: string, data: string, options: { msgID: string }): Promise<PubAck> {
      if (options.msgID === refuse) throw new Error("no response from stream");
      const duplicate = stored.has(options.msgID);
      if (!duplicate) stored.set(options.msgID, data);
      return { stream: "KONSTRUCT_INBOUND", seq: stored.size, duplicate, domain: "" };
    },
  };
  return { js: js as unknown as JetStreamClient, stored };
}

describe("createJetStreamPublisher", () => {
  it("gives each of the publishes started in one turn its own acknowledgement or failure", async () => {
    const { js, stored } = fakeJetStream("Ev-refused");
    const publisher = createJetStreamPublisher(js);
    const results = await Promise.allSettled([
      publisher.publish("konstruct.inbound.slack", { n: 1 }, "Ev-1"),
      publisher.publish("konstruct.inbound.slack", { n: 2 }, "Ev-refused"),
      publisher.publish("konstruct.inbound.slack", { n: 3 }, "Ev-1"),
      publisher.publish("konstruct.inbound.slack", { n: 4 }, "Ev-4"),
    ]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as WebhookError).code))).toEqual([
      { duplicate: false },
      "UNAVAILABLE",
      { duplicate: true },
      { duplicate: false },
    ]);
    expect(results[1]).toMatchObject({ reason: expect.any(WebhookError) });
    expect([...stored.values()]).toEqual([JSON.stringify({ n: 1 }), JSON.stringify({ n: 4 })]);
  });

  it("asks the sender to come back soon when the broker did not store the message (not the stream-full wait)", async () => {
    const { js } = fakeJetStream("Ev-refused");
    const refused = await createJetStreamPublisher(js)
      .publish("konstruct.inbound.slack", { n: 1 }, "Ev-refused")
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WebhookError);
    expect(refused).toMatchObject({ code: "UNAVAILABLE", retryAfterSeconds: RETRY_AFTER_SECONDS.unavailable });
    expect(RETRY_AFTER_SECONDS.unavailable).toBeLessThan(RETRY_AFTER_SECONDS.streamFull);
  });

  it("publishes the value as it was when publish was called", async () => {
    const { js, stored } = fakeJetStream("none");
    const value = { text: "before" };
    const pending = createJetStreamPublisher(js).publish("konstruct.inbound.slack", value, "Ev-1");
    value.text = "after";
    await pending;
    expect(stored.get("Ev-1")).toBe(JSON.stringify({ text: "before" }));
  });
});
