import type { AgentInput, AgentView } from "../agents.ts";
import type { Invitation } from "../auth/invitations.ts";
import type { Session } from "../auth/sessions.ts";
import type { ChannelView } from "../channels.ts";
import type { ConversationSummary, MessageView, Page } from "../conversations.ts";
import type { InvitationView, MemberView } from "../members.ts";
import type { Usage } from "../usage.ts";
import { barChart } from "./chart.ts";
import { html, type SafeHtml, when } from "./html.ts";
import { csrfField, errorSummary, field } from "./layout.ts";

/** A refusal shown on a form: the message and the fields it names. */
export interface FormError {
  message: string;
  fields?: Readonly<Record<string, string>>;
}

export function signInView(csrf: string, email = "", error?: FormError): SafeHtml {
  return html`${errorSummary(error?.message, error?.fields)}
<form method="post" action="/portal/sign-in" novalidate>${csrfField(csrf)}
${field("email", "Email", { type: "email", value: email, required: true, autocomplete: "username" })}
${field("password", "Password", { type: "password", required: true, autocomplete: "current-password" })}
<button type="submit">Sign in</button></form>
<p class="hint">New here? Open the invitation link you were given. Forgot your password? Ask an owner of your organisation to invite you again.</p>`;
}

export function invitationView(csrf: string, invitation: Invitation, token: string, error?: FormError, name = ""): SafeHtml {
  return html`<p>You were invited to <strong>${invitation.tenantDisplayName}</strong> as <strong>${invitation.role}</strong>, with the email <strong>${invitation.email}</strong>. Choose your name and a password to join.</p>
${errorSummary(error?.message, error?.fields)}
<form method="post" action="/portal/invitations/${token}" novalidate>${csrfField(csrf)}
${field("displayName", "Your name", { value: name, required: true, autocomplete: "name", error: error?.fields?.displayName })}
${field("password", "Password", {
  type: "password",
  required: true,
  autocomplete: "new-password",
  hint: "At least 12 characters. A sentence you will remember works well.",
  error: error?.fields?.password,
})}
<button type="submit">Join</button></form>`;
}

const readyText = (ready: boolean | null, text: string) =>
  ready === true
    ? html`<span class="ok">${text}</span>`
    : ready === false
      ? html`<span class="bad">${text}</span>`
      : html`<span class="unknown">${text}</span>`;

export function readOnlyNotice(reason: string | null): SafeHtml {
  return reason === null
    ? html``
    : html`<p class="notice" role="status"><strong>Configuration is read-only here.</strong> ${reason}</p>`;
}

export function agentsView(session: Session, agents: AgentView[], readOnly: string | null): SafeHtml {
  const canWrite = readOnly === null && session.role !== "member";
  return html`${readOnlyNotice(readOnly)}
${canWrite ? html`<p><a class="button" href="/portal/agents/new">New agent</a></p>` : ""}
${
  agents.length === 0
    ? html`<p class="empty">No agents yet.${canWrite ? " Create the first one: it answers in your channels once it is Ready." : " An owner or admin can create one."}</p>`
    : html`<div class="table"><table><caption class="skip">Agents</caption><thead><tr><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Model</th><th scope="col">Channels</th><th scope="col">Default</th></tr></thead><tbody>
${agents.map(
  (a) =>
    html`<tr><td><a href="/portal/agents/${a.name}">${a.displayName}</a><br><span class="meta">${a.name}${a.role ? ` · ${a.role}` : ""}</span></td><td>${readyText(a.ready, a.status)}</td><td><code>${a.model}</code></td><td>${a.channels.length === 0 ? "all" : a.channels.join(", ")}</td><td>${a.default ? "yes" : "no"}</td></tr>`,
)}</tbody></table></div>`
}`;
}

export function agentFormView(options: {
  csrf: string;
  mode: "create" | "update";
  name: string;
  input: Partial<AgentInput>;
  models: string[];
  channels: string[];
  status?: AgentView;
  error?: FormError | undefined;
  canWrite: boolean;
  readOnly: string | null;
}): SafeHtml {
  const { input, error } = options;
  const f = error?.fields ?? {};
  const action = options.mode === "create" ? "/portal/agents" : `/portal/agents/${options.name}`;
  const disabled = !options.canWrite;
  return html`${readOnlyNotice(options.readOnly)}${
    disabled && options.readOnly === null
      ? html`<p class="notice" role="status">Your role can read agents but not change them. Owners and admins can.</p>`
      : ""
  }
${options.status ? html`<p>Status: ${readyText(options.status.ready, options.status.status)}</p>` : ""}
${errorSummary(error?.message, error?.fields)}
<form method="post" action="${action}" novalidate>${csrfField(options.csrf)}
<fieldset${disabled ? html` disabled` : ""}><legend class="skip">Agent</legend>
${
  options.mode === "create"
    ? field("name", "Name", {
        value: options.name,
        required: true,
        hint: "Lowercase letters, digits and dashes; it cannot change later. People address the agent by its display name.",
        error: f.name,
      })
    : ""
}
${field("displayName", "Display name", { value: input.displayName ?? "", required: true, hint: 'The name people see, such as "Ada".', error: f.displayName })}
${field("role", "Role", { value: input.role ?? "", hint: 'A job title, such as "Support engineer".', error: f.role })}
${field("instructions", "Persona", {
  value: input.instructions ?? "",
  multiline: true,
  hint: "Who the agent is and how it should answer, in prose.",
  error: f.instructions,
})}
${field("model", "Model", {
  value: input.model ?? "",
  required: true,
  hint:
    options.models.length > 0
      ? `Models the language model server has: ${options.models.join(", ")}. You may type another.`
      : "The language model server did not list its models; type a model name such as llama3.2:3b.",
  error: f.model,
  extra: html` list="models"`,
})}
<datalist id="models">${options.models.map((m) => html`<option value="${m}">`)}</datalist>
${field("fallbackModels", "Fallback models", {
  value: (input.fallbackModels ?? []).join(", "),
  hint: "Tried in order when the model fails; separate with commas.",
  error: f.fallbackModels,
})}
${field("temperature", "Temperature", { type: "number", value: input.temperature ?? 0.7, hint: "0 (focused) to 2 (inventive).", error: f.temperature, extra: html` step="0.1" min="0" max="2"` })}
${field("maxHistoryMessages", "Messages of history", { type: "number", value: input.maxHistoryMessages ?? 20, hint: "How many earlier messages of a thread the agent sees (0 to 1000).", error: f.maxHistoryMessages, extra: html` min="0" max="1000"` })}
${field("channels", "Channels", {
  value: (input.channels ?? []).join(", "),
  hint: `Channels it answers in, separated by commas; empty means all.${options.channels.length > 0 ? ` Your channels: ${options.channels.join(", ")}.` : ""}`,
  error: f.channels,
})}
<p class="check"><input type="checkbox" id="default" name="default"${input.default ? html` checked` : ""}> <label for="default">Default agent: answers when no agent is addressed</label></p>
${disabled ? "" : html`<button type="submit">${options.mode === "create" ? "Create agent" : "Save changes"}</button>`}
</fieldset></form>
${
  options.mode === "update" && options.canWrite
    ? html`<form method="post" action="/portal/agents/${options.name}/delete">${csrfField(options.csrf)}<button class="danger" type="submit">Delete ${input.displayName ?? options.name}</button></form>`
    : ""
}`;
}

export function channelsView(
  session: Session,
  channels: ChannelView[],
  readOnly: string | null,
  error?: FormError & { channel?: string },
): SafeHtml {
  const canWrite = readOnly === null && session.role !== "member";
  if (channels.length === 0)
    return html`${readOnlyNotice(readOnly)}<p class="empty">No channels are connected. Channels are added to the Tenant resource by the platform's administrator.</p>`;
  return html`${readOnlyNotice(readOnly)}${channels.map(
    (c) => html`<section aria-labelledby="ch-${c.name}"><h2 id="ch-${c.name}">${c.name} <span class="meta">(${c.type})</span></h2>
<ul>
<li>State: ${readyText(c.ready, c.ready === null ? "unknown" : c.ready ? "Ready" : "Not ready")}</li>
<li>Set-up problem: ${c.lastError ?? "none"}</li>
<li>Last event received: ${when(c.lastEventAt)}</li>
<li>Last delivery error: ${c.lastDeliveryError === null ? "none" : html`${c.lastDeliveryError.message} <span class="meta">(${when(c.lastDeliveryError.at)})</span>`}</li>
<li>${c.type === "webchat" ? "Chat page" : "Webhook URL"}: ${c.url === null ? "not assigned yet" : c.type === "webchat" ? html`<a href="${c.url}">${c.url}</a>` : html`<code>${c.url}</code>`}</li>
</ul>
${
  c.embedSnippet
    ? html`<p><label for="embed-${c.name}">Embed on your site</label><textarea id="embed-${c.name}" readonly rows="3">${c.embedSnippet}</textarea></p>
${
  canWrite
    ? html`${error?.channel === c.name ? errorSummary(error.message, error.fields) : ""}<form method="post" action="/portal/channels/${c.name}/origins">${csrfField(session.csrfToken)}
${field(`allowedOrigins`, "Allowed origins", {
  value: c.allowedOrigins.join("\n"),
  multiline: true,
  hint: "Sites that may embed this chat, one per line, such as https://www.example.com.",
  error: error?.channel === c.name ? error.fields?.allowedOrigins : undefined,
})}<button type="submit">Save origins</button></form>`
    : html`<p>Allowed origins: ${c.allowedOrigins.length === 0 ? "none" : c.allowedOrigins.join(", ")}</p>`
}`
    : ""
}</section>`,
  )}`;
}

export function conversationsView(
  page: Page<ConversationSummary> | null,
  results: Page<MessageView> | null,
  options: { q: string; channel: string; channels: string[] },
): SafeHtml {
  const search = html`<form method="get" action="/portal/conversations" role="search">
<label for="q">Search messages</label><input type="search" id="q" name="q" value="${options.q}" aria-describedby="q-hint"><p class="hint" id="q-hint">Words, "an exact phrase", or -word to exclude.</p>
<label for="channel">Channel</label><select id="channel" name="channel"><option value="">All channels</option>${options.channels.map(
    (c) => html`<option value="${c}"${c === options.channel ? html` selected` : ""}>${c}</option>`,
  )}</select>
<button type="submit">Show</button></form>`;
  const more = (next: string | null) =>
    next === null
      ? ""
      : html`<p><a href="/portal/conversations?${new URLSearchParams({ q: options.q, channel: options.channel, cursor: next }).toString()}">Older</a></p>`;
  if (results !== null) {
    return html`${search}<h2>Messages matching “${options.q}”</h2>${
      results.items.length === 0
        ? html`<p class="empty">No message matches. Try fewer or other words.</p>`
        : html`${results.items.map((m) => messageView(m, true))}${more(results.next)}`
    }`;
  }
  const items = page?.items ?? [];
  return html`${search}${
    items.length === 0
      ? html`<p class="empty">No conversations yet. They appear here once someone writes to an agent in a channel.</p>`
      : html`<div class="table"><table><thead><tr><th scope="col">Conversation</th><th scope="col">Channel</th><th scope="col">Messages</th><th scope="col">Last message</th></tr></thead><tbody>${items.map(
          (c) =>
            html`<tr><td><a href="/portal/conversations/${c.id}">${c.subject || c.threadKey}</a></td><td>${c.connectionName || c.channelType}</td><td>${c.messageCount}</td><td>${when(c.lastMessageAt)}</td></tr>`,
        )}</tbody></table></div>${more(page?.next ?? null)}`
  }`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who wrote a message when the channel gave no name: a web chat visitor by the start of their id, others by their channel id. */
function senderLabel(senderId: string): string {
  if (senderId === "") return "someone";
  return UUID.test(senderId) ? `visitor ${senderId.slice(0, 8)}` : senderId;
}

export function messageView(m: MessageView, link = false): SafeHtml {
  const who = m.direction === "reply" ? (m.agentName ?? "agent") : (m.senderName ?? senderLabel(m.senderId));
  const details =
    m.direction === "reply"
      ? [
          m.model,
          m.promptTokens !== null ? `${m.promptTokens + (m.completionTokens ?? 0)} tokens` : null,
          m.latencyMs !== null ? `${m.latencyMs} ms` : null,
        ]
          .filter(Boolean)
          .join(" · ")
      : "";
  return html`<article class="message ${m.direction}"><p class="meta"><strong>${who}</strong> · ${when(m.createdAt)}${details ? ` · ${details}` : ""}${
    link ? html` · <a href="/portal/conversations/${m.conversationId}">open conversation</a>` : ""
  }</p><p>${m.text}</p></article>`;
}

export function threadView(conversation: ConversationSummary, messages: Page<MessageView>): SafeHtml {
  return html`<p class="meta">${conversation.connectionName || conversation.channelType} · started ${when(conversation.startedAt)} · ${conversation.messageCount} messages</p>
${messages.items.length === 0 ? html`<p class="empty">This conversation has no messages left (older ones are removed after the retention period).</p>` : messages.items.map((m) => messageView(m))}
${messages.next ? html`<p><a href="/portal/conversations/${conversation.id}?cursor=${messages.next}">Later messages</a></p>` : ""}
<p><a href="/portal/conversations">All conversations</a></p>`;
}

export function usageView(u: Usage): SafeHtml {
  const today = u.tokensPerDay.at(-1) ?? 0;
  const percent = u.limits.tokensPerDay > 0 ? Math.round((today / u.limits.tokensPerDay) * 100) : 0;
  return html`<p>Today: <strong>${today.toLocaleString("en-US")}</strong> tokens of ${u.limits.tokensPerDay.toLocaleString("en-US")} a day (${percent}%); up to ${u.limits.messagesPerMinute} messages a minute.</p>
<h2>Tokens per day</h2>
${barChart({ title: "Tokens per day", labels: u.days, values: u.tokensPerDay, limit: u.limits.tokensPerDay, unit: "tokens" })}
<h2>Messages per day</h2>
${barChart({ title: "Messages per day", labels: u.days, values: u.messagesPerDay, unit: "messages" })}
<p><a href="/portal/usage.csv" download>Download as CSV</a></p>
${
  u.rows.length === 0
    ? html`<p class="empty">No usage in the last ${u.days.length} days.</p>`
    : html`<div class="table"><table><thead><tr><th scope="col">Day</th><th scope="col">Agent</th><th scope="col">Messages</th><th scope="col">Prompt tokens</th><th scope="col">Completion tokens</th></tr></thead><tbody>${[
        ...u.rows,
      ]
        .reverse()
        .map(
          (r) =>
            html`<tr><td>${r.day}</td><td>${r.agent || "(people)"}</td><td>${r.messages}</td><td>${r.promptTokens}</td><td>${r.completionTokens}</td></tr>`,
        )}</tbody></table></div>`
}`;
}

export function membersView(
  session: Session,
  data: { members: MemberView[]; invitations: InvitationView[] },
  options: { link?: { url: string; email: string; role: string }; error?: FormError },
): SafeHtml {
  const roleSelect = (id: string, selected: string) =>
    html`<select id="${id}" name="role">${["owner", "admin", "member"].map((r) => html`<option value="${r}"${r === selected ? html` selected` : ""}>${r}</option>`)}</select>`;
  return html`${
    options.link
      ? html`<div class="notice" role="status"><p><strong>Invitation for ${options.link.email} (${options.link.role}).</strong> Copy this link now and hand it over yourself; it is shown only once and works once, for 7 days.</p><p><label for="link">Invitation link</label><input type="text" id="link" readonly value="${options.link.url}"></p></div>`
      : ""
  }
<h2>Invite someone</h2>
${errorSummary(options.error?.message, options.error?.fields)}
<form method="post" action="/portal/members/invite" novalidate>${csrfField(session.csrfToken)}
${field("email", "Email", { type: "email", required: true, error: options.error?.fields?.email })}
<label for="invite-role">Role</label><p class="hint">Owner: people and everything. Admin: agents and channels. Member: reads conversations and usage.</p>${roleSelect("invite-role", "member")}
<button type="submit">Create invitation link</button></form>
<h2>Who has access</h2>
<div class="table"><table><thead><tr><th scope="col">Person</th><th scope="col">Role</th><th scope="col">Remove</th></tr></thead><tbody>${data.members.map(
    (
      m,
    ) => html`<tr><td>${m.displayName || m.email}<br><span class="meta">${m.email}${m.id === session.userId ? " (you)" : ""}</span></td>
<td><form class="inline" method="post" action="/portal/members/${m.id}/role">${csrfField(session.csrfToken)}<label class="skip" for="role-${m.id}">Role of ${m.email}</label>${roleSelect(`role-${m.id}`, m.role)} <button class="secondary" type="submit">Change</button></form></td>
<td><form class="inline" method="post" action="/portal/members/${m.id}/remove">${csrfField(session.csrfToken)}<button class="danger" type="submit">Remove<span class="skip"> ${m.email}</span></button></form></td></tr>`,
  )}</tbody></table></div>
<h2>Open invitations</h2>
${
  data.invitations.length === 0
    ? html`<p class="empty">No open invitations.</p>`
    : html`<ul>${data.invitations.map((i) => html`<li>${i.email} (${i.role}), valid until ${when(i.expiresAt)}${i.invitedBy === null ? " — from the platform administrator" : ""}</li>`)}</ul>`
}`;
}

export function accountView(session: Session, error?: FormError, notice?: string): SafeHtml {
  return html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ""}
<p>Signed in as <strong>${session.displayName || session.email}</strong> (${session.email}), ${session.role} of ${session.tenantDisplayName}. This session ends ${when(session.expiresAt)} at the latest.</p>
<h2>Change password</h2>
${errorSummary(error?.message, error?.fields)}
<form method="post" action="/portal/account/password" novalidate>${csrfField(session.csrfToken)}
<input type="text" name="username" value="${session.email}" autocomplete="username" hidden>
${field("currentPassword", "Current password", { type: "password", required: true, autocomplete: "current-password", error: error?.fields?.currentPassword })}
${field("newPassword", "New password", { type: "password", required: true, autocomplete: "new-password", hint: "At least 12 characters. Your other sessions end.", error: error?.fields?.newPassword })}
<button type="submit">Change password</button></form>
<h2>Sessions</h2>
<form method="post" action="/portal/sign-out-everywhere">${csrfField(session.csrfToken)}<button class="danger" type="submit">Sign out everywhere</button></form>`;
}

export function errorView(message: string, back: string | null): SafeHtml {
  return html`<p class="error" role="alert">${message}</p>${back ? html`<p><a href="${back}">Go back</a></p>` : ""}<p><a href="/portal/">Portal home</a></p>`;
}
