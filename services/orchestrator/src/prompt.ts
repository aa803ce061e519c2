import type { ChatMessage } from "./llm-provider.ts";

/** The agent fields that shape its prompt. */
export interface Persona {
  displayName: string;
  role: string;
  systemPrompt: string;
}

/**
 * The system prompt: who the agent is first (display name and role), then the tenant's own
 * instructions. The identity line comes first so a persona survives an empty system prompt.
 */
export function systemPrompt(persona: Persona): string {
  const identity = persona.role.trim()
    ? `You are ${persona.displayName}, ${persona.role.trim()}.`
    : `You are ${persona.displayName}.`;
  const instructions = persona.systemPrompt.trim();
  return instructions ? `${identity}\n${instructions}` : identity;
}

/** The messages of one run: system prompt, the remembered conversation, then the new question. */
export function buildPrompt(persona: Persona, history: readonly ChatMessage[], userText: string): ChatMessage[] {
  return [{ role: "system", content: systemPrompt(persona) }, ...history, { role: "user", content: userText }];
}
