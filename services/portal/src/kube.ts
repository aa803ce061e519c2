import { API_VERSION } from "@konstruct/operator";
import { type HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { type Dispatcher, fetch } from "undici";

/** The API path of Konstruct's custom resources (the operator's group and version). */
export const KONSTRUCT_API = `/apis/${API_VERSION}`;

/** A Kubernetes API refusal or failure, with the HTTP status (0 when the server did not answer). */
export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KubeError";
    this.status = status;
    this.reason = reason;
  }
}

/** Where configuration is written: the Kubernetes API, or nowhere (read-only, with the reason). */
export type KubeAccess = { mode: "cluster"; client: ImpersonatingClient } | { mode: "read-only"; reason: string };

/**
 * A JSON client of the Kubernetes API that sends every request as an impersonated user
 * (`Impersonate-User`), so the API server's RBAC for that identity, not only the portal's
 * code, decides what a person may do. client-node can impersonate per kubeconfig user
 * (`as:`), not per request; the header is the same mechanism, chosen per call.
 */
export class ImpersonatingClient {
  readonly #config: KubeConfig;
  readonly #server: string;
  #auth: { headers: Record<string, string>; dispatcher: Dispatcher | undefined; at: number } | undefined;

  constructor(config: KubeConfig) {
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error("the kubeconfig has no current cluster");
    this.#config = config;
    this.#server = cluster.server.replace(/\/$/, "");
  }

  // One dispatcher (one TLS pool) for the client's life; headers refreshed each minute for a
  // rotated ServiceAccount token.
  async #context(url: string, method: string) {
    if (this.#auth === undefined || Date.now() - this.#auth.at > 60_000) {
      const ctx = new RequestContext(url, method as HttpMethod);
      await this.#config.applySecurityAuthentication(ctx);
      const fresh = ctx.getDispatcher() as Dispatcher | undefined;
      if (this.#auth?.dispatcher !== undefined && fresh !== undefined) void fresh.close();
      this.#auth = { headers: { ...ctx.getHeaders() }, dispatcher: this.#auth?.dispatcher ?? fresh, at: Date.now() };
    }
    return this.#auth;
  }

  /** Sends one request as `user`; returns the parsed JSON; non-2xx answers throw {@link KubeError}. */
  async request<T = Record<string, unknown>>(
    user: string,
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    options: { body?: unknown; contentType?: string; query?: Record<string, string> } = {},
  ): Promise<T> {
    const url = new URL(this.#server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const auth = await this.#context(url.toString(), method);
    const headers: Record<string, string> = { ...auth.headers, accept: "application/json", "impersonate-user": user };
    if (options.body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        dispatcher: auth.dispatcher,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (cause) {
      throw new KubeError(0, "Unreachable", "the Kubernetes API server did not answer", { cause });
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
      throw new KubeError(response.status, reason, message);
    }
    return (text === "" ? {} : JSON.parse(text)) as T;
  }
}

/**
 * The portal's access to the Kubernetes API: a kubeconfig when KUBECONFIG names one, the
 * in-cluster ServiceAccount when running in a pod, otherwise read-only with the reason.
 */
export function kubeAccess(env: { KUBECONFIG?: string | undefined; inCluster: boolean }): KubeAccess {
  const config = new KubeConfig();
  if (env.KUBECONFIG) config.loadFromFile(env.KUBECONFIG);
  else if (env.inCluster) config.loadFromCluster();
  else
    return {
      mode: "read-only",
      reason:
        "No Kubernetes API server is configured (npm start without a local kube-apiserver reads examples/ from files), so agents and channels can be viewed here but not changed. Edit the files in examples/ and restart, or build the local kube-apiserver with scripts/build-control-plane.sh.",
    };
  return { mode: "cluster", client: new ImpersonatingClient(config) };
}
