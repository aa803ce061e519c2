import { withTenant } from "@konstruct/core";
import { AGENT_DEFAULTS, API_VERSION, PORTAL_FIELD_MANAGER, portalIdentity } from "@konstruct/operator";
import { fromKube, type PortalContext, requireWriter, writableCluster } from "./context.ts";
import { notFound, PortalError } from "./errors.ts";
import { KONSTRUCT_API, KubeError } from "./kube.ts";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** What a person may set on an agent. */
export interface AgentInput {
  displayName: string;
  role: string;
  /** The persona, or the full system prompt when the agent uses one. */
  instructions: string;
  model: string;
  fallbackModels: string[];
  temperature: number;
  maxHistoryMessages: number;
  default: boolean;
  channels: string[];
}

/** An agent as the pages and the API show it: what a person set, its name, and what the operator reported. */
export interface AgentView extends AgentInput {
  name: string;
  instructionsField: "persona" | "systemPrompt";
  /** True/False from the operator's Ready condition; null when unknown (read-only mode or not reconciled yet). */
  ready: boolean | null;
  status: string;
}

interface AgentResource {
  metadata: { name: string; generation?: number };
  spec: {
    displayName: string;
    role?: string;
    persona?: string;
    systemPrompt?: string;
    model: string;
    fallbackModels?: string[];
    temperature?: number;
    maxHistoryMessages?: number;
    default?: boolean;
    channels?: string[];
  };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

const agentsPath = (namespace: string) => `${KONSTRUCT_API}/namespaces/${encodeURIComponent(namespace)}/agents`;

function view(resource: AgentResource): AgentView {
  const ready = resource.status?.conditions?.find((c) => c.type === "Ready");
  const current = resource.status?.observedGeneration === resource.metadata.generation;
  const spec = resource.spec;
  return {
    name: resource.metadata.name,
    displayName: spec.displayName,
    role: spec.role ?? "",
    instructions: spec.systemPrompt ?? spec.persona ?? "",
    instructionsField: spec.systemPrompt !== undefined ? "systemPrompt" : "persona",
    model: spec.model,
    fallbackModels: spec.fallbackModels ?? [],
    temperature: spec.temperature ?? AGENT_DEFAULTS.temperature,
    maxHistoryMessages: spec.maxHistoryMessages ?? AGENT_DEFAULTS.maxHistoryMessages,
    default: spec.default ?? AGENT_DEFAULTS.default,
    channels: spec.channels ?? [],
    ready: ready === undefined || !current ? null : ready.status === "True",
    status:
      ready === undefined || !current
        ? "Waiting for the operator"
        : ready.status === "True"
          ? "Ready"
          : `Not ready: ${ready.message || ready.reason || "no reason given"}`,
  };
}

/** The tenant's agents, sorted by name. */
export async function listAgents(ctx: PortalContext): Promise<AgentView[]> {
  if (ctx.kube.mode === "cluster") {
    const user = portalIdentity(ctx.session.tenantName, ctx.session.role);
    const list = await ctx.kube.client
      .request<{ items: AgentResource[] }>(user, "GET", agentsPath(ctx.session.namespace))
      .catch((e) => fromKube(e, "The agent list"));
    return list.items.map(view).sort((a, b) => a.name.localeCompare(b.name));
  }
  const rows = await withTenant(ctx.db, ctx.session.tenantId, (trx) =>
    trx.selectFrom("agents").selectAll().orderBy("name").execute(),
  );
  return rows.map((row) =>
    view({
      metadata: { name: row.name },
      spec: {
        displayName: row.display_name,
        role: row.role,
        systemPrompt: row.system_prompt,
        model: row.model,
        fallbackModels: row.fallback_models,
        temperature: row.temperature,
        maxHistoryMessages: row.max_history_messages,
        default: row.is_default,
        channels: row.channels,
      },
    }),
  );
}

/** Whether `name` can name an Agent (a DNS label); anything else is no agent of anyone's. */
const isAgentName = (name: string) => NAME.test(name) && name.length <= 63;

/** One agent of the tenant, or undefined: one GET of that Agent (not a list) in cluster mode. */
async function findAgent(ctx: PortalContext, name: string): Promise<AgentView | undefined> {
  if (ctx.kube.mode !== "cluster") return (await listAgents(ctx)).find((a) => a.name === name);
  const user = portalIdentity(ctx.session.tenantName, ctx.session.role);
  try {
    return view(await ctx.kube.client.request<AgentResource>(user, "GET", `${agentsPath(ctx.session.namespace)}/${name}`));
  } catch (error) {
    if (error instanceof KubeError && error.status === 404) return undefined;
    return fromKube(error, "This agent");
  }
}

/** One agent of the tenant; not found for any name outside it. */
export async function getAgent(ctx: PortalContext, name: string): Promise<AgentView> {
  const found = isAgentName(name) ? await findAgent(ctx, name) : undefined;
  if (found === undefined) throw notFound("This agent");
  return found;
}

/**
 * Creates or updates an Agent by server-side apply as the person's impersonated role, so the
 * API server checks the write against that identity's RBAC in the tenant namespace.
 */
export async function applyAgent(
  ctx: PortalContext,
  name: string,
  input: AgentInput,
  mode: "create" | "update",
): Promise<AgentView> {
  requireWriter(ctx.session);
  const { client, user } = writableCluster(ctx);
  if (!isAgentName(name)) {
    if (mode === "update") throw notFound("This agent");
    throw new PortalError("invalid", "Check the highlighted fields.", {
      fields: { name: "Use lowercase letters, digits and dashes (up to 63), starting and ending with a letter or digit." },
    });
  }
  const existing = await findAgent(ctx, name);
  if (mode === "create" && existing !== undefined)
    throw new PortalError("conflict", `An agent named ${name} already exists. Choose another name or edit that one.`, {
      fields: { name: "This name is taken." },
    });
  if (mode === "update" && existing === undefined) throw notFound("This agent");
  const instructionsField = existing?.instructionsField ?? "persona";
  const body = {
    apiVersion: API_VERSION,
    kind: "Agent",
    metadata: { name, namespace: ctx.session.namespace },
    spec: {
      displayName: input.displayName,
      ...(input.role ? { role: input.role } : {}),
      ...(input.instructions ? { [instructionsField]: input.instructions } : {}),
      model: input.model,
      fallbackModels: input.fallbackModels,
      temperature: input.temperature,
      maxHistoryMessages: input.maxHistoryMessages,
      default: input.default,
      channels: input.channels,
    },
  };
  // force: the portal is where a person decided this; it takes over the fields it sets from
  // whoever applied them before (kubectl, npm start), as `kubectl apply --force-conflicts` would.
  const saved = await client
    .request<AgentResource>(user, "PATCH", `${agentsPath(ctx.session.namespace)}/${name}`, {
      body,
      patch: "apply",
      query: { fieldManager: PORTAL_FIELD_MANAGER, force: "true" },
    })
    .catch((e) => fromKube(e, "This agent"));
  return view(saved);
}

/** Deletes an Agent as the person's impersonated role. */
export async function deleteAgent(ctx: PortalContext, name: string): Promise<void> {
  requireWriter(ctx.session);
  const { client, user } = writableCluster(ctx);
  if (!isAgentName(name)) throw notFound("This agent");
  await client.request(user, "DELETE", `${agentsPath(ctx.session.namespace)}/${name}`).catch((e) => fromKube(e, "This agent"));
}

/** Parses an agent from a form or a JSON body, listing every bad field. */
export function parseAgentInput(body: Record<string, unknown>): AgentInput {
  const fields: Record<string, string> = {};
  const text = (key: string, max: number, required = false): string => {
    const value = body[key];
    const s = typeof value === "string" ? value.trim() : "";
    if (required && s.length === 0) fields[key] = "This is required.";
    else if (s.length > max) fields[key] = `Use at most ${max} characters.`;
    return s;
  };
  const list = (key: string, max: number): string[] => {
    const value = body[key];
    const items = Array.isArray(value)
      ? value.filter((v): v is string => typeof v === "string")
      : typeof value === "string"
        ? value.split(/[\s,]+/)
        : [];
    const cleaned = items.map((s) => s.trim()).filter((s) => s.length > 0);
    if (cleaned.length > max) fields[key] = `At most ${max} entries.`;
    return [...new Set(cleaned)];
  };
  const number = (key: string, min: number, max: number, fallback: number, integer: boolean): number => {
    const value = body[key];
    if (value === undefined || value === "") return fallback;
    const n = typeof value === "number" ? value : Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
      fields[key] = `Enter a ${integer ? "whole " : ""}number from ${min} to ${max}.`;
    return n;
  };
  const input: AgentInput = {
    displayName: text("displayName", 200, true),
    role: text("role", 200),
    instructions: text("instructions", 20000),
    model: text("model", 200, true),
    fallbackModels: list("fallbackModels", 8),
    temperature: number("temperature", 0, 2, AGENT_DEFAULTS.temperature, false),
    maxHistoryMessages: number("maxHistoryMessages", 0, 1000, AGENT_DEFAULTS.maxHistoryMessages, true),
    default: body.default === true || body.default === "on" || body.default === "true",
    channels: list("channels", 64),
  };
  for (const channel of input.channels) if (!NAME.test(channel)) fields.channels = `${channel} is not a channel name.`;
  if (Object.keys(fields).length > 0) throw new PortalError("invalid", "Check the highlighted fields.", { fields });
  return input;
}
