import { withTenant } from "@konstruct/core";
import { AGENT_DEFAULTS, invitationLink } from "@konstruct/operator";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { type AgentInput, type AgentView, applyAgent, deleteAgent, getAgent, listAgents, parseAgentInput } from "../agents.ts";
import { clearSessionCookie, clientAddress, contextOf, presessionToken, type RouteDeps, setSessionCookie } from "../app.ts";
import { acceptInvitation, findInvitation } from "../auth/invitations.ts";
import { changePassword } from "../auth/password.ts";
import { endSession, endSessionsOf } from "../auth/sessions.ts";
import { signIn } from "../auth/sign-in.ts";
import { listChannels, parseOrigins, setAllowedOrigins } from "../channels.ts";
import { getThread, listConversations, searchMessages } from "../conversations.ts";
import { PortalError } from "../errors.ts";
import { changeRole, invite, listMembers, removeMember } from "../members.ts";
import { page } from "../pages/layout.ts";
import {
  accountView,
  agentFormView,
  agentsView,
  channelsView,
  conversationsView,
  invitationView,
  membersView,
  signInView,
  threadView,
  usageView,
} from "../pages/views.ts";
import { usage } from "../usage.ts";
import { type Body, bodyOf, requestOrigin, sendUsageCsv, str } from "./request.ts";

const send = (reply: FastifyReply, html: string, status = 200) =>
  reply.status(status).type("text/html; charset=utf-8").send(html);

/** Runs a form's action; a refusal a person can fix re-renders the form with it, anything else goes to the error page. */
async function formAction<T>(action: () => Promise<T>, onRefusal: (error: PortalError) => unknown): Promise<T | undefined> {
  try {
    return await action();
  } catch (error) {
    if (
      error instanceof PortalError &&
      (error.code === "invalid" || error.code === "conflict" || error.code === "unauthenticated" || error.code === "throttled")
    ) {
      await onRefusal(error);
      return undefined;
    }
    throw error;
  }
}

/** The server-rendered pages under /portal/: forms post back here with the CSRF token in a hidden field. */
export const pageRoutes: FastifyPluginAsync<RouteDeps> = async (app, deps) => {
  const readOnly = () => (deps.kube.mode === "read-only" ? deps.kube.reason : null);

  app.get("/portal", async (_request, reply) => reply.redirect("/portal/", 302));
  app.get("/portal/", async (request, reply) =>
    reply.redirect(request.portalSession ? "/portal/agents" : "/portal/sign-in", 303),
  );

  app.get("/portal/sign-in", async (request, reply) => {
    if (request.portalSession) return reply.redirect("/portal/agents", 303);
    return send(reply, page("Sign in", signInView(presessionToken(request, reply, deps))));
  });
  app.post("/portal/sign-in", async (request, reply) => {
    const body = bodyOf(request.body);
    const opened = await formAction(
      () => signIn(deps, { email: str(body.email), password: str(body.password) }, requestOrigin(request)),
      async (error) => {
        if (error.retryAfter !== undefined) reply.header("retry-after", String(error.retryAfter));
        await send(
          reply,
          page("Sign in", signInView(presessionToken(request, reply, deps), str(body.email), { message: error.message })),
          error.status,
        );
      },
    );
    if (opened === undefined) return reply;
    setSessionCookie(reply, deps, opened.token);
    return reply.redirect("/portal/agents", 303);
  });
  app.post("/portal/sign-out", async (request, reply) => {
    if (request.portalSession) await endSession(deps.db, request.portalSession);
    clearSessionCookie(reply, deps);
    return reply.redirect("/portal/sign-in", 303);
  });
  app.post("/portal/sign-out-everywhere", async (request, reply) => {
    const ctx = contextOf(request, deps);
    await withTenant(deps.db, ctx.session.tenantId, (trx) => endSessionsOf(trx, ctx.session.userId));
    clearSessionCookie(reply, deps);
    return reply.redirect("/portal/sign-in", 303);
  });

  app.get<{ Params: { token: string } }>("/portal/invitations/:token", async (request, reply) => {
    const invitation = await findInvitation(deps.db, request.params.token);
    return send(
      reply,
      page("Join your organisation", invitationView(presessionToken(request, reply, deps), invitation, request.params.token)),
    );
  });
  app.post<{ Params: { token: string } }>("/portal/invitations/:token", async (request, reply) => {
    const body = bodyOf(request.body);
    const opened = await formAction(
      () =>
        acceptInvitation(
          deps.db,
          request.params.token,
          { displayName: str(body.displayName), password: str(body.password) },
          requestOrigin(request),
          deps.lifetime,
        ),
      async (error) => {
        const invitation = await findInvitation(deps.db, request.params.token);
        await send(
          reply,
          page(
            "Join your organisation",
            invitationView(
              presessionToken(request, reply, deps),
              invitation,
              request.params.token,
              { message: error.message, fields: error.fields },
              str(body.displayName),
            ),
          ),
          error.status,
        );
      },
    );
    if (opened === undefined) return reply;
    setSessionCookie(reply, deps, opened.token);
    return reply.redirect("/portal/agents", 303);
  });

  app.get("/portal/agents", async (request, reply) => {
    const ctx = contextOf(request, deps);
    return send(
      reply,
      page("Agents", agentsView(ctx.session, await listAgents(ctx), readOnly()), {
        session: ctx.session,
        current: "/portal/agents",
      }),
    );
  });

  const agentForm = async (
    request: FastifyRequest,
    reply: FastifyReply,
    mode: "create" | "update",
    name: string,
    input: Partial<AgentInput>,
    error?: PortalError,
    /** The agent as just read, so the page does not read it again. */
    known?: AgentView,
  ) => {
    const ctx = contextOf(request, deps);
    const [models, channels, status] = await Promise.all([
      deps.models.list(),
      listChannels(ctx, deps.gatewayUrl).then((c) => c.map((x) => x.name)),
      mode === "update" ? (known ?? getAgent(ctx, name)) : Promise.resolve(undefined),
    ]);
    const title = mode === "create" ? "New agent" : `Agent ${status?.displayName ?? name}`;
    return send(
      reply,
      page(
        title,
        agentFormView({
          csrf: ctx.session.csrfToken,
          mode,
          name,
          input,
          models,
          channels,
          ...(status ? { status } : {}),
          error: error ? { message: error.message, ...(error.fields ? { fields: error.fields } : {}) } : undefined,
          canWrite: readOnly() === null && ctx.session.role !== "member",
          readOnly: readOnly(),
        }),
        { session: ctx.session, current: "/portal/agents" },
      ),
      error?.status ?? 200,
    );
  };

  app.get("/portal/agents/new", async (request, reply) => agentForm(request, reply, "create", "", {}));
  app.post("/portal/agents", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    const saved = await formAction(
      async () => applyAgent(ctx, str(body.name).trim(), parseAgentInput(body), "create"),
      (error) => agentForm(request, reply, "create", str(body.name), looseInput(body), error),
    );
    return saved === undefined ? reply : reply.redirect(`/portal/agents/${saved.name}`, 303);
  });
  app.get<{ Params: { name: string } }>("/portal/agents/:name", async (request, reply) => {
    const agent = await getAgent(contextOf(request, deps), request.params.name);
    return agentForm(request, reply, "update", agent.name, agent, undefined, agent);
  });
  app.post<{ Params: { name: string } }>("/portal/agents/:name", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    const saved = await formAction(
      async () => applyAgent(ctx, request.params.name, parseAgentInput(body), "update"),
      (error) => agentForm(request, reply, "update", request.params.name, looseInput(body), error),
    );
    return saved === undefined ? reply : reply.redirect(`/portal/agents/${saved.name}`, 303);
  });
  app.post<{ Params: { name: string } }>("/portal/agents/:name/delete", async (request, reply) => {
    await deleteAgent(contextOf(request, deps), request.params.name);
    return reply.redirect("/portal/agents", 303);
  });

  app.get("/portal/channels", async (request, reply) => {
    const ctx = contextOf(request, deps);
    return send(
      reply,
      page("Channels", channelsView(ctx.session, await listChannels(ctx, deps.gatewayUrl), readOnly()), {
        session: ctx.session,
        current: "/portal/channels",
      }),
    );
  });
  app.post<{ Params: { name: string } }>("/portal/channels/:name/origins", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const done = await formAction(
      async () => setAllowedOrigins(ctx, request.params.name, parseOrigins(bodyOf(request.body).allowedOrigins)).then(() => true),
      async (error) =>
        send(
          reply,
          page(
            "Channels",
            channelsView(ctx.session, await listChannels(ctx, deps.gatewayUrl), readOnly(), {
              message: error.message,
              ...(error.fields ? { fields: error.fields } : {}),
              channel: request.params.name,
            }),
            { session: ctx.session, current: "/portal/channels" },
          ),
          error.status,
        ),
    );
    return done === undefined ? reply : reply.redirect("/portal/channels", 303);
  });

  app.get<{ Querystring: { q?: string; channel?: string; cursor?: string } }>("/portal/conversations", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const q = str(request.query.q).trim();
    const channel = str(request.query.channel);
    const [channels, list, results] = await Promise.all([
      withTenant(deps.db, ctx.session.tenantId, (trx) =>
        trx.selectFrom("channel_connections").select("name").orderBy("name").execute(),
      ),
      q === ""
        ? listConversations(deps.db, ctx.session.tenantId, { channel, cursor: request.query.cursor })
        : Promise.resolve(null),
      q === "" ? Promise.resolve(null) : searchMessages(deps.db, ctx.session.tenantId, q, request.query.cursor),
    ]);
    return send(
      reply,
      page("Conversations", conversationsView(list, results, { q, channel, channels: channels.map((c) => c.name) }), {
        session: ctx.session,
        current: "/portal/conversations",
      }),
    );
  });
  app.get<{ Params: { id: string }; Querystring: { cursor?: string } }>("/portal/conversations/:id", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const thread = await getThread(deps.db, ctx.session.tenantId, request.params.id, request.query.cursor);
    return send(
      reply,
      page(thread.conversation.subject || "Conversation", threadView(thread.conversation, thread.messages), {
        session: ctx.session,
        current: "/portal/conversations",
      }),
    );
  });

  app.get("/portal/usage", async (request, reply) => {
    const ctx = contextOf(request, deps);
    return send(
      reply,
      page("Usage", usageView(await usage(deps.db, ctx.session.tenantId)), { session: ctx.session, current: "/portal/usage" }),
    );
  });
  app.get("/portal/usage.csv", async (request, reply) => {
    return sendUsageCsv(reply, await usage(deps.db, contextOf(request, deps).session.tenantId));
  });

  const membersPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    extra: Parameters<typeof membersView>[2],
    status = 200,
  ) => {
    const ctx = contextOf(request, deps);
    const data = await listMembers(deps.db, ctx.session);
    return send(
      reply,
      page("People", membersView(ctx.session, data, extra), { session: ctx.session, current: "/portal/members" }),
      status,
    );
  };
  app.get("/portal/members", async (request, reply) => membersPage(request, reply, {}));
  app.post("/portal/members/invite", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    const made = await formAction(
      () => invite(deps.db, ctx.session, { email: body.email, role: body.role }),
      (error) =>
        membersPage(
          request,
          reply,
          { error: { message: error.message, ...(error.fields ? { fields: error.fields } : {}) } },
          error.status,
        ),
    );
    if (made === undefined) return reply;
    // The link is shown in this response only: it is not stored anywhere it could be shown again.
    return membersPage(request, reply, {
      link: { url: invitationLink(deps.publicUrl, made.token), email: made.email, role: made.role },
    });
  });
  app.post<{ Params: { id: string } }>("/portal/members/:id/role", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const done = await formAction(
      () => changeRole(deps.db, ctx.session, request.params.id, bodyOf(request.body).role).then(() => true),
      (error) => membersPage(request, reply, { error: { message: error.message } }, error.status),
    );
    return done === undefined ? reply : reply.redirect("/portal/members", 303);
  });
  app.post<{ Params: { id: string } }>("/portal/members/:id/remove", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const done = await formAction(
      () => removeMember(deps.db, ctx.session, request.params.id).then(() => true),
      (error) => membersPage(request, reply, { error: { message: error.message } }, error.status),
    );
    return done === undefined ? reply : reply.redirect("/portal/members", 303);
  });

  app.get("/portal/account", async (request, reply) => {
    const ctx = contextOf(request, deps);
    return send(reply, page("Account", accountView(ctx.session), { session: ctx.session, current: "/portal/account" }));
  });
  app.post("/portal/account/password", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    const done = await formAction(
      () =>
        changePassword(
          deps.db,
          deps.throttle,
          ctx.session,
          clientAddress(request),
          body as { currentPassword: unknown; newPassword: unknown },
        ),
      (error) =>
        send(
          reply,
          page(
            "Account",
            accountView(ctx.session, { message: error.message, ...(error.fields ? { fields: error.fields } : {}) }),
            {
              session: ctx.session,
              current: "/portal/account",
            },
          ),
          error.status,
        ),
    );
    if (done === undefined) return reply;
    return send(
      reply,
      page("Account", accountView(ctx.session, undefined, `Password changed. ${done.endedSessions} other session(s) ended.`), {
        session: ctx.session,
        current: "/portal/account",
      }),
    );
  });
};

/** What a refused agent form showed, to fill it in again. */
function looseInput(body: Body): Partial<AgentInput> {
  const s = (k: string) => (typeof body[k] === "string" ? (body[k] as string) : "");
  return {
    displayName: s("displayName"),
    role: s("role"),
    instructions: s("instructions"),
    model: s("model"),
    fallbackModels: s("fallbackModels")
      .split(/[\s,]+/)
      .filter(Boolean),
    temperature: Number(s("temperature") || AGENT_DEFAULTS.temperature),
    maxHistoryMessages: Number(s("maxHistoryMessages") || AGENT_DEFAULTS.maxHistoryMessages),
    default: body.default === "on",
    channels: s("channels")
      .split(/[\s,]+/)
      .filter(Boolean),
  };
}
