import { API_VERSION } from "@konstruct/operator";
import { KubeApiError, KubeClient, loadKubeCredentials, type PatchType } from "@konstruct/operator/kube";

/** The API path of Konstruct's custom resources (the operator's group and version). */
export const KONSTRUCT_API = `/apis/${API_VERSION}`;

/** A Kubernetes API refusal or failure, with the HTTP status (0 when the server did not answer). */
export { KubeApiError as KubeError };

/** Where configuration is written: the Kubernetes API, or nowhere (read-only, with the reason). */
export type KubeAccess = { mode: "cluster"; client: ImpersonatingClient } | { mode: "read-only"; reason: string };

/**
 * A JSON client of the Kubernetes API that sends every request as an impersonated user
 * (`Impersonate-User`), so the API server's RBAC for that identity, not only the portal's
 * code, decides what a person may do. One operator KubeClient (one TLS pool, one credential
 * refresh) serves every identity: the header is chosen per call.
 */
export class ImpersonatingClient {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** Sends one request as `user`; returns the parsed JSON; non-2xx answers throw {@link KubeError}. */
  request<T = Record<string, unknown>>(
    user: string,
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    options: { body?: unknown; patch?: PatchType; query?: Record<string, string> } = {},
  ): Promise<T> {
    return this.#client.request<T>(method, path, { ...options, headers: { "impersonate-user": user } });
  }
}

/**
 * The portal's access to the Kubernetes API: a kubeconfig when KUBECONFIG names one, the
 * in-cluster ServiceAccount when running in a pod, otherwise read-only with the reason.
 */
export async function kubeAccess(env: {
  KUBECONFIG?: string | undefined;
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBERNETES_SERVICE_PORT?: string | undefined;
}): Promise<KubeAccess> {
  if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST)
    return {
      mode: "read-only",
      reason:
        "No Kubernetes API server is configured (npm start without a local kube-apiserver reads examples/ from files), so agents and channels can be viewed here but not changed. Edit the files in examples/ and restart, or build the local kube-apiserver with scripts/build-control-plane.sh.",
    };
  return {
    mode: "cluster",
    client: new ImpersonatingClient(new KubeClient(await loadKubeCredentials(env), { timeoutMs: 10_000 })),
  };
}
