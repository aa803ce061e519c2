import { CSRF_FIELD } from "../auth/csrf.ts";
import type { Session } from "../auth/sessions.ts";
import { html, type SafeHtml } from "./html.ts";

/** The sections of the portal, in navigation order, with the roles that see each. */
const SECTIONS = [
  { path: "/portal/agents", label: "Agents", owners: false },
  { path: "/portal/channels", label: "Channels", owners: false },
  { path: "/portal/conversations", label: "Conversations", owners: false },
  { path: "/portal/usage", label: "Usage", owners: false },
  { path: "/portal/members", label: "People", owners: true },
  { path: "/portal/account", label: "Account", owners: false },
] as const;

/** The hidden CSRF field every form carries. */
export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${token}">`;
}

/** A full page: header with navigation (when signed in), the main content, no script. */
export function page(title: string, body: SafeHtml, options: { session?: Session | null; current?: string } = {}): string {
  const session = options.session ?? null;
  const nav =
    session === null
      ? html``
      : html`<nav aria-label="Sections"><ul>${SECTIONS.filter((s) => !s.owners || session.role === "owner").map(
          (s) => html`<li><a href="${s.path}"${s.path === options.current ? html` aria-current="page"` : ""}>${s.label}</a></li>`,
        )}</ul></nav>
        <form method="post" action="/portal/sign-out">${csrfField(session.csrfToken)}<button type="submit">Sign out ${session.email}</button></form>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · ${session?.tenantDisplayName ?? "Konstruct"} portal</title>
<link rel="stylesheet" href="/portal/assets/portal.css"><link rel="icon" href="data:,"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><strong>${session?.tenantDisplayName ?? "Konstruct"}</strong>${nav}</header>
<main id="main" tabindex="-1"><h1>${title}</h1>${body}</main></body></html>`.value;
}

/** The summary of a refused form, announced to screen readers. */
export function errorSummary(message: string | undefined, fields: Readonly<Record<string, string>> = {}): SafeHtml {
  if (message === undefined) return html``;
  const entries = Object.entries(fields);
  return html`<div class="errors" role="alert"><p class="error">${message}</p>${
    entries.length > 0 ? html`<ul>${entries.map(([f, m]) => html`<li><a href="#${f}">${m}</a></li>`)}</ul>` : ""
  }</div>`;
}

/** One labelled input with its hint and error, wired for assistive technology. */
export function field(
  name: string,
  label: string,
  options: {
    type?: string;
    value?: string | number;
    hint?: string;
    error?: string | undefined;
    required?: boolean;
    autocomplete?: string;
    multiline?: boolean;
    extra?: SafeHtml;
  } = {},
): SafeHtml {
  const described = [options.hint ? `${name}-hint` : "", options.error ? `${name}-error` : ""].filter(Boolean).join(" ");
  const common = html`id="${name}" name="${name}"${options.required ? html` required` : ""}${
    described ? html` aria-describedby="${described}"` : ""
  }${options.error ? html` aria-invalid="true"` : ""}${options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ""}`;
  const input = options.multiline
    ? html`<textarea ${common}>${options.value ?? ""}</textarea>`
    : html`<input type="${options.type ?? "text"}" ${common} value="${options.value ?? ""}"${options.extra ?? ""}>`;
  return html`<label for="${name}">${label}</label>${options.hint ? html`<p class="hint" id="${name}-hint">${options.hint}</p>` : ""}${
    options.error ? html`<p class="error" id="${name}-error">${options.error}</p>` : ""
  }${input}`;
}
