import { describe, expect, it } from "vitest";
import { selectAgent } from "./agent-selection.ts";
import type { AgentSummary } from "./tenant-resolver.ts";

const agent = (name: string, displayName: string, extra: Partial<AgentSummary> = {}): AgentSummary => ({
  id: `${name}-id`,
  name,
  displayName,
  isDefault: false,
  channels: [],
  ...extra,
});

const ada = agent("ada", "Ada", { isDefault: true });
const bill = agent("billing", "Bill");
const adaL = agent("ada-lovelace", "Ada Lovelace");

describe("selectAgent", () => {
  it("picks the agent addressed by display name or resource name, case-insensitively", () => {
    expect(selectAgent([ada, bill], "Bill, why was I charged twice?", "slack")?.agent.name).toBe("billing");
    expect(selectAgent([ada, bill], "ask @billing about it", "slack")?.agent.name).toBe("billing");
    expect(selectAgent([ada, bill], "hey BILL", "slack")).toMatchObject({ agent: { name: "billing" }, reason: "addressed" });
  });

  it("matches whole words only", () => {
    expect(selectAgent([ada, bill], "my billable hours", "slack")).toMatchObject({ agent: { name: "ada" }, reason: "default" });
    expect(selectAgent([ada, bill], "Billy says hi", "slack")?.reason).toBe("default");
  });

  it("prefers the earliest mention, then the longer name", () => {
    expect(selectAgent([ada, bill], "Ada or Bill?", "slack")?.agent.name).toBe("ada");
    expect(selectAgent([ada, adaL], "Ada Lovelace, compute this", "slack")?.agent.name).toBe("ada-lovelace");
  });

  it("falls back to the default agent, then to the only agent on the channel", () => {
    expect(selectAgent([ada, bill], "hello", "slack")).toMatchObject({ agent: { name: "ada" }, reason: "default" });
    expect(selectAgent([bill], "hello", "slack")).toMatchObject({ agent: { name: "billing" }, reason: "only" });
    expect(selectAgent([bill, adaL], "hello", "slack")).toBeNull();
    expect(selectAgent([], "hello", "slack")).toBeNull();
  });

  it("only considers agents serving the connection (empty channels serve all)", () => {
    const webOnly = agent("web", "Webby", { channels: ["webchat-main"], isDefault: true });
    expect(selectAgent([webOnly, bill], "Webby, hi", "slack-main")).toMatchObject({ agent: { name: "billing" }, reason: "only" });
    expect(selectAgent([webOnly, bill], "Webby, hi", "webchat-main")?.agent.name).toBe("web");
  });

  it("treats names with regular-expression characters literally", () => {
    const odd = agent("q", "C++ (guru)");
    expect(selectAgent([ada, odd], "C++ (guru) please", "slack")?.agent.name).toBe("q");
    expect(selectAgent([ada, odd], "C (guru) please", "slack")?.agent.name).toBe("ada");
  });
});
