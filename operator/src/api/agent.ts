import { type Static, Type } from "@sinclair/typebox";
import { AGENT_DEFAULTS } from "./defaults.ts";
import { Condition, DNS_LABEL, withRules } from "./schema-helpers.ts";
import { API_VERSION, ObjectMeta } from "./tenant.ts";

export const AgentSpec = withRules(
  Type.Object(
    {
      displayName: Type.String({ description: 'The name people see, e.g. "Ada".', minLength: 1, maxLength: 200 }),
      role: Type.Optional(Type.String({ description: 'Job title, e.g. "Support engineer".', maxLength: 200 })),
      persona: Type.Optional(
        Type.String({
          description: "Who the agent is, in prose; used as the system prompt when systemPrompt is not set.",
          maxLength: 20000,
        }),
      ),
      systemPrompt: Type.Optional(Type.String({ description: "The full system prompt; overrides persona.", maxLength: 50000 })),
      model: Type.String({ description: "Ollama model name, e.g. llama3.2:3b.", minLength: 1, maxLength: 200 }),
      fallbackModels: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
          description: "Models tried in order when `model` fails.",
          maxItems: 8,
        }),
      ),
      temperature: Type.Optional(
        Type.Number({
          description: "Sampling temperature, 0 to 2.",
          minimum: 0,
          maximum: 2,
          default: AGENT_DEFAULTS.temperature,
        }),
      ),
      maxHistoryMessages: Type.Optional(
        Type.Integer({
          description: "Messages of the thread kept as context.",
          minimum: 0,
          maximum: 1000,
          default: AGENT_DEFAULTS.maxHistoryMessages,
        }),
      ),
      default: Type.Optional(
        Type.Boolean({
          description: "Answers when no agent is addressed. At most one default Agent per tenant.",
          default: AGENT_DEFAULTS.default,
        }),
      ),
      channels: Type.Optional(
        Type.Array(Type.String({ pattern: DNS_LABEL, maxLength: 63 }), {
          description: "Names of the tenant's channels this agent serves; empty means all.",
          maxItems: 64,
          "x-kubernetes-list-type": "set",
        }),
      ),
    },
    { description: "The desired state of an agent." },
  ),
  [
    {
      rule: "!(has(self.persona) && has(self.systemPrompt))",
      message: "set persona or systemPrompt, not both",
      fieldPath: ".systemPrompt",
    },
  ],
);

export const AgentStatus = Type.Object(
  {
    agentId: Type.Optional(Type.String({ description: "Id of the agent row." })),
    tenantId: Type.Optional(Type.String({ description: "The tenant that owns the agent's namespace." })),
    observedGeneration: Type.Optional(Type.Integer({ description: "The .metadata.generation last reconciled." })),
    conditions: Type.Optional(
      Type.Array(Condition, {
        description: "Ready (with TenantResolved and DefaultUnique as reasons when not).",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    ),
  },
  { description: "The observed state of an agent." },
);

export const Agent = Type.Object(
  {
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal("Agent"),
    metadata: ObjectMeta,
    spec: AgentSpec,
    status: Type.Optional(AgentStatus),
  },
  { description: "An AI employee of a tenant; lives in the tenant's namespace." },
);

export type AgentSpec = Static<typeof AgentSpec>;
export type AgentStatus = Static<typeof AgentStatus>;
export type Agent = Static<typeof Agent>;
