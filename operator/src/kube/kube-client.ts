import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import type { HttpMethod, KubeConfig } from "@kubernetes/client-node";
import { type Dispatcher, fetch } from "undici";
import { KubeApiError } from "../errors.ts";
import type { KubeAuth } from "./kube-auth.ts";

export type PatchType = "apply" | "merge" | "json";

const CONTENT_TYPES: Record<PatchType, string> = {
  apply: "application/apply-patch+yaml",
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
};

/**
 * One event of a watch stream of `T`s. A bookmark carries only a resourceVersion; an error
 * carries a Status (410 Gone when the version is too old to resume from).
 */
export type WatchEvent<T = Record<string, unknown>> =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: T }
  | { type: "BOOKMARK"; object: { metadata: { resourceVersion?: string } } }
  | { type: "ERROR"; object: { code?: number; message?: string } };

/**
 * A thin JSON client over the Kubernetes REST API, authenticated by the operator's own loader
 * (kube-auth.ts) or by a client-node KubeConfig. The operator uses raw paths rather
 * than the generated clients so it controls content types (server-side apply, merge patches
 * on the status subresource), timeouts and watch streams itself.
 */
export class KubeClient {
  readonly #credentials: KubeAuth;
  readonly #server: string;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;

  /**
   * From the operator's own credentials loader (kube-auth.ts), or from a client-node KubeConfig
   * (tests, exec plugins). `headers` go with every request (e.g. `Impersonate-User`, for a client
   * that acts as someone else).
   */
  constructor(config: KubeConfig | KubeAuth, options: { timeoutMs?: number; headers?: Record<string, string> } = {}) {
    this.#credentials = "authenticate" in config ? config : kubeConfigAuth(config);
    this.#server = this.#credentials.server;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#headers = { ...options.headers };
  }

  /** The URL, headers and connection pool of one request; the credentials decide how often they are refreshed. */
  async #context(
    path: string,
    query?: Record<string, string>,
  ): Promise<{ url: string; headers: Record<string, string>; dispatcher: Dispatcher | undefined }> {
    const url = new URL(this.#server + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const auth = await this.#credentials.authenticate();
    return { url: url.toString(), headers: { ...auth.headers, ...this.#headers }, dispatcher: auth.dispatcher };
  }

  /**
   * Sends one request and returns the parsed JSON body (or the text, with `text`); non-2xx answers
   * throw KubeApiError. `headers` go with this request only (e.g. the `Impersonate-User` of the
   * person a shared client acts for).
   */
  async request<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    options: {
      body?: unknown;
      patch?: PatchType;
      query?: Record<string, string>;
      text?: boolean;
      headers?: Record<string, string>;
    } = {},
  ): Promise<T> {
    const ctx = await this.#context(path, options.query);
    const headers: Record<string, string> = { ...ctx.headers, ...options.headers, accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = options.patch ? CONTENT_TYPES[options.patch] : "application/json";
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      response = await fetch(ctx.url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        dispatcher: ctx.dispatcher,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new KubeApiError(0, "Unreachable", `${method} ${path}: the API server did not answer`, { cause });
    }
    const text = await response.text();
    if (!response.ok) {
      let reason = response.statusText;
      let message = text.slice(0, 500);
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? reason;
        message = status.message ?? message;
      } catch {
        // not a Status object
      }
      throw new KubeApiError(response.status, reason, `${method} ${path}: ${response.status} ${message}`, {
        statusMessage: message,
      });
    }
    if (options.text) return text as T;
    return (text === "" ? {} : JSON.parse(text)) as T;
  }

  /**
   * Streams a watch until the server ends it, `signal` aborts, or no line arrives for
   * `idleMs` (a stalled connection). Resolves on a clean end; rejects otherwise.
   */
  async watch<T = Record<string, unknown>>(
    path: string,
    query: Record<string, string>,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
    idleMs: number,
  ): Promise<void> {
    const ctx = await this.#context(path, { ...query, watch: "true" });
    const controller = new AbortController();
    const abort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error(`no watch event for ${idleMs} ms`)), idleMs);
    };
    try {
      arm();
      const response = await fetch(ctx.url, {
        method: "GET",
        headers: { ...ctx.headers, accept: "application/json" },
        dispatcher: ctx.dispatcher,
        signal: controller.signal,
      });
      if (!response.ok || response.body === null) {
        const text = await response.text();
        throw new KubeApiError(response.status, response.statusText, `watch ${path}: ${response.status} ${text.slice(0, 300)}`);
      }
      const lines = createInterface({ input: Readable.fromWeb(response.body as never), crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of lines) {
        arm();
        if (line.trim() === "") continue;
        onEvent(JSON.parse(line) as WatchEvent<T>);
      }
      if (controller.signal.aborted) throw controller.signal.reason;
    } finally {
      clearTimeout(idle);
      signal.removeEventListener("abort", abort);
    }
  }
}

/**
 * A KubeConfig's authentication as client-node applies it (exec plugins, auth providers and all).
 * client-node builds a new undici Agent (so a new TLS connection) for every request it
 * authenticates; at hundreds of Tenants that costs hundreds of MB and a handshake per call.
 * Keep the first dispatcher for the client's life and refresh only the headers (a rotated
 * token, an exec plugin's new credential) once a minute.
 */
function kubeConfigAuth(config: KubeConfig): KubeAuth {
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error("the kubeconfig has no current cluster; set KUBECONFIG or run in a cluster");
  const server = cluster.server.replace(/\/$/, "");
  let cached: { headers: Record<string, string>; dispatcher: Dispatcher | undefined; at: number } | undefined;
  return {
    server,
    async authenticate() {
      if (cached === undefined || Date.now() - cached.at > 60_000) {
        // The caller already loaded client-node to build its KubeConfig; this import costs nothing more.
        const { RequestContext } = await import("@kubernetes/client-node");
        const ctx = new RequestContext(`${server}/`, "GET" as HttpMethod);
        await config.applySecurityAuthentication(ctx);
        const fresh = ctx.getDispatcher() as Dispatcher | undefined;
        if (cached?.dispatcher !== undefined && fresh !== undefined && fresh !== cached.dispatcher) void fresh.close();
        cached = { headers: { ...ctx.getHeaders() }, dispatcher: cached?.dispatcher ?? fresh, at: Date.now() };
      }
      return cached;
    },
  };
}
