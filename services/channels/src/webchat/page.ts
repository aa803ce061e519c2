import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { WebchatConnection } from "./connections.ts";
import { escapeHtml } from "./http.ts";

/** One static file of the chat, held in memory with its validator. */
export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

const read = (name: string): Buffer => readFileSync(new URL(`./assets/${name}`, import.meta.url));
const asset = (name: string, contentType: string): Asset => {
  const body = read(name);
  return { body, contentType, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` };
};

/** Everything the chat serves besides the page and the API; read once at start-up, never from a CDN. */
export const ASSETS: Readonly<Record<string, Asset>> = {
  "chat.js": asset("chat.js", "text/javascript; charset=utf-8"),
  "chat.css": asset("chat.css", "text/css; charset=utf-8"),
  "embed.js": asset("embed.js", "text/javascript; charset=utf-8"),
};

const TEMPLATE = read("page.html").toString("utf8");
const NOT_FOUND = read("not-found.html").toString("utf8");

/** What the page shows before its script runs: the agent's name and job title, escaped. */
export function renderPage(connection: WebchatConnection, options: { maxTextLength: number }): string {
  const name = connection.agent?.displayName || "Assistant";
  const role = connection.agent?.role ?? "";
  const initials =
    name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((word) => [...word][0]?.toUpperCase() ?? "")
      .join("") || "?";
  const values: Record<string, string> = {
    name: escapeHtml(name),
    role: escapeHtml(role),
    initials: escapeHtml(initials),
    maxLength: String(options.maxTextLength),
  };
  return TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_match, key: string) => values[key] ?? "");
}

/** The page for an address with no web chat behind it (or none reachable right now). */
export function renderNotFound(message: string): string {
  return NOT_FOUND.replace("{{message}}", escapeHtml(message));
}
