import type { AgentSummary } from "./tenant-resolver.ts";

/** The agent chosen for a message, and why. */
export interface AgentChoice {
  agent: AgentSummary;
  reason: "addressed" | "default" | "only";
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Compiled once per name: a Unicode-aware RegExp per agent per message was a visible share of
// the router's CPU. No `g` flag, so a cached pattern keeps no state between messages.
const patterns = new Map<string, RegExp>();
function patternFor(name: string): RegExp {
  let pattern = patterns.get(name);
  if (!pattern) {
    pattern = new RegExp(`(?:^|[^\\p{L}\\p{N}_@])@?(${escapeRegExp(name)})(?=$|[^\\p{L}\\p{N}_])`, "iu");
    if (patterns.size >= 10_000) patterns.clear();
    patterns.set(name, pattern);
  }
  return pattern;
}

/** Position of the first whole-word, case-insensitive occurrence of `name` (optionally `@name`), or -1. */
function addressAt(text: string, name: string): number {
  const trimmed = name.trim();
  if (trimmed === "") return -1;
  const pattern = patternFor(trimmed);
  const match = pattern.exec(text);
  return match ? match.index + match[0].length - (match[1]?.length ?? 0) : -1;
}

/**
 * Picks the agent for a message. Only agents serving the connection count (an empty channel
 * list serves all). An agent is addressed when its display name or resource name appears in
 * the text as a whole word ("Ada, can you…", "ask @billing about…"); the earliest mention
 * wins, a longer name breaking ties ("Ada Lovelace" over "Ada"). Otherwise the tenant's
 * default agent answers, or, failing that, the only agent on the connection.
 */
export function selectAgent(agents: readonly AgentSummary[], text: string, connectionName: string): AgentChoice | null {
  const serving = agents.filter((a) => a.channels.length === 0 || a.channels.includes(connectionName));
  let best: { agent: AgentSummary; at: number; length: number } | null = null;
  for (const agent of serving) {
    for (const name of [agent.displayName, agent.name]) {
      const at = addressAt(text, name);
      if (at < 0) continue;
      if (!best || at < best.at || (at === best.at && name.length > best.length)) best = { agent, at, length: name.length };
    }
  }
  if (best) return { agent: best.agent, reason: "addressed" };
  const fallback = serving.find((a) => a.isDefault);
  if (fallback) return { agent: fallback, reason: "default" };
  if (serving.length === 1 && serving[0]) return { agent: serving[0], reason: "only" };
  return null;
}
