import { withTenant } from "@konstruct/core";
import { invitationLink } from "@konstruct/operator";
import type { FastifyPluginAsync } from "fastify";
import { applyAgent, deleteAgent, getAgent, listAgents, parseAgentInput } from "../agents.ts";
import { clearSessionCookie, clientAddress, contextOf, presessionToken, type RouteDeps, setSessionCookie } from "../app.ts";
import { acceptInvitation, findInvitation } from "../auth/invitations.ts";
import { changePassword } from "../auth/password.ts";
import { endSession, endSessionsOf } from "../auth/sessions.ts";
import { signIn } from "../auth/sign-in.ts";
import { listChannels, parseOrigins, setAllowedOrigins } from "../channels.ts";
import { getThread, listConversations, searchMessages } from "../conversations.ts";
import { changeRole, invite, listMembers, removeMember } from "../members.ts";
import { usage } from "../usage.ts";
import { bodyOf, requestOrigin, sendUsageCsv, str } from "./request.ts";

/**
 * The JSON API under /portal/api/: what the pages do, for scripts. Same session cookie and
 * CSRF rules as the pages (the token in `x-csrf-token`); errors are `{ error, message, fields? }`.
 */
export const apiRoutes: FastifyPluginAsync<RouteDeps> = async (app, deps) => {
  app.get("/portal/api/session", async (request, reply) => {
    const session = request.portalSession;
    if (session === null) return { signedIn: false, csrfToken: presessionToken(request, reply, deps) };
    return {
      signedIn: true,
      csrfToken: session.csrfToken,
      user: { id: session.userId, email: session.email, displayName: session.displayName, role: session.role },
      tenant: { name: session.tenantName, displayName: session.tenantDisplayName },
      expiresAt: session.expiresAt,
      readOnly: deps.kube.mode === "read-only" ? deps.kube.reason : null,
    };
  });

  app.post("/portal/api/session", async (request, reply) => {
    const body = bodyOf(request.body);
    const opened = await signIn(deps, { email: str(body.email), password: str(body.password) }, requestOrigin(request));
    setSessionCookie(reply, deps, opened.token);
    return reply.status(201).send({ signedIn: true, csrfToken: opened.csrfToken });
  });

  app.delete("/portal/api/session", async (request, reply) => {
    const ctx = contextOf(request, deps);
    await endSession(deps.db, ctx.session);
    clearSessionCookie(reply, deps);
    return reply.status(204).send();
  });

  app.delete("/portal/api/sessions", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const ended = await withTenant(deps.db, ctx.session.tenantId, (trx) => endSessionsOf(trx, ctx.session.userId));
    clearSessionCookie(reply, deps);
    return reply.status(200).send({ endedSessions: ended });
  });

  app.put("/portal/api/password", async (request) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    return changePassword(deps.db, deps.throttle, ctx.session, clientAddress(request), {
      currentPassword: body.currentPassword,
      newPassword: body.newPassword,
    });
  });

  app.get<{ Params: { token: string } }>("/portal/api/invitations/:token", async (request) => {
    const invitation = await findInvitation(deps.db, request.params.token);
    return { email: invitation.email, role: invitation.role, tenant: invitation.tenantDisplayName };
  });

  app.post<{ Params: { token: string } }>("/portal/api/invitations/:token", async (request, reply) => {
    const body = bodyOf(request.body);
    const opened = await acceptInvitation(
      deps.db,
      request.params.token,
      { displayName: str(body.displayName), password: str(body.password) },
      requestOrigin(request),
      deps.lifetime,
    );
    setSessionCookie(reply, deps, opened.token);
    return reply.status(201).send({ signedIn: true, csrfToken: opened.csrfToken });
  });

  app.get("/portal/api/agents", async (request) => {
    const ctx = contextOf(request, deps);
    return { agents: await listAgents(ctx), readOnly: deps.kube.mode === "read-only" ? deps.kube.reason : null };
  });
  app.get("/portal/api/models", async (request) => {
    contextOf(request, deps);
    return { models: await deps.models.list() };
  });
  app.post("/portal/api/agents", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    const agent = await applyAgent(ctx, str(body.name), parseAgentInput(body), "create");
    return reply.status(201).send(agent);
  });
  app.get<{ Params: { name: string } }>("/portal/api/agents/:name", async (request) =>
    getAgent(contextOf(request, deps), request.params.name),
  );
  app.put<{ Params: { name: string } }>("/portal/api/agents/:name", async (request) => {
    const ctx = contextOf(request, deps);
    return applyAgent(ctx, request.params.name, parseAgentInput(bodyOf(request.body)), "update");
  });
  app.delete<{ Params: { name: string } }>("/portal/api/agents/:name", async (request, reply) => {
    await deleteAgent(contextOf(request, deps), request.params.name);
    return reply.status(204).send();
  });

  app.get("/portal/api/channels", async (request) => {
    const ctx = contextOf(request, deps);
    return {
      channels: await listChannels(ctx, deps.gatewayUrl),
      readOnly: deps.kube.mode === "read-only" ? deps.kube.reason : null,
    };
  });
  app.put<{ Params: { name: string } }>("/portal/api/channels/:name/allowed-origins", async (request) => {
    const ctx = contextOf(request, deps);
    const origins = parseOrigins(bodyOf(request.body).allowedOrigins);
    await setAllowedOrigins(ctx, request.params.name, origins);
    return { allowedOrigins: origins };
  });

  app.get<{ Querystring: { q?: string; channel?: string; cursor?: string } }>("/portal/api/conversations", async (request) => {
    const ctx = contextOf(request, deps);
    const { q, channel, cursor } = request.query;
    if (q !== undefined && q.trim() !== "") return { messages: await searchMessages(deps.db, ctx.session.tenantId, q, cursor) };
    return { conversations: await listConversations(deps.db, ctx.session.tenantId, { channel, cursor }) };
  });
  app.get<{ Params: { id: string }; Querystring: { cursor?: string } }>("/portal/api/conversations/:id", async (request) => {
    const ctx = contextOf(request, deps);
    return getThread(deps.db, ctx.session.tenantId, request.params.id, request.query.cursor);
  });

  app.get("/portal/api/usage", async (request) => usage(deps.db, contextOf(request, deps).session.tenantId));
  app.get("/portal/api/usage.csv", async (request, reply) => {
    return sendUsageCsv(reply, await usage(deps.db, contextOf(request, deps).session.tenantId));
  });

  app.get("/portal/api/members", async (request) => listMembers(deps.db, contextOf(request, deps).session));
  app.post("/portal/api/invitations", async (request, reply) => {
    const ctx = contextOf(request, deps);
    const body = bodyOf(request.body);
    const made = await invite(deps.db, ctx.session, { email: body.email, role: body.role });
    return reply
      .status(201)
      .send({ email: made.email, role: made.role, expiresAt: made.expiresAt, url: invitationLink(deps.publicUrl, made.token) });
  });
  app.put<{ Params: { id: string } }>("/portal/api/members/:id", async (request) => {
    const ctx = contextOf(request, deps);
    await changeRole(deps.db, ctx.session, request.params.id, bodyOf(request.body).role);
    return { id: request.params.id, role: bodyOf(request.body).role };
  });
  app.delete<{ Params: { id: string } }>("/portal/api/members/:id", async (request, reply) => {
    await removeMember(deps.db, contextOf(request, deps).session, request.params.id);
    return reply.status(204).send();
  });
};
