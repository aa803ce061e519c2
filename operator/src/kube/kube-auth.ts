import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, resolve } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { Agent, type Dispatcher } from "undici";

/** How the operator reaches and authenticates to the API server. */
export interface KubeAuth {
  /** The API server's base URL, without a trailing slash. */
  readonly server: string;
  /** Headers and connection pool for the next request; a token file is re-read once a minute. */
  authenticate(): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher | undefined }>;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  value?: T;
}
interface KubeconfigCluster {
  server?: string;
  "certificate-authority-data"?: string;
  "certificate-authority"?: string;
  "insecure-skip-tls-verify"?: boolean;
}
interface KubeconfigUser {
  "client-certificate-data"?: string;
  "client-key-data"?: string;
  "client-certificate"?: string;
  "client-key"?: string;
  token?: string;
  tokenFile?: string;
  exec?: unknown;
  "auth-provider"?: unknown;
  username?: string;
}

/**
 * The operator's credentials without @kubernetes/client-node: importing that package (its
 * generated models and APIs, which even its `KubeConfig` pulls in) cost the operator ~85 MB of
 * RSS and ~25 MB of heap at idle, for what is here a few lines — in-cluster service-account
 * token and CA, or a kubeconfig with client certificates or a token. A kubeconfig that needs
 * more (an exec credential plugin, an auth provider, basic auth) returns null, and the caller
 * loads client-node's `KubeConfig` for it.
 */
export async function loadKubeAuth(env: {
  KUBECONFIG?: string | undefined;
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBERNETES_SERVICE_PORT?: string | undefined;
  HOME?: string | undefined;
}): Promise<KubeAuth | null> {
  if (!env.KUBECONFIG && env.KUBERNETES_SERVICE_HOST) {
    const host = env.KUBERNETES_SERVICE_HOST.includes(":") ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
    return authFrom(`https://${host}:${env.KUBERNETES_SERVICE_PORT ?? "443"}`, {
      ca: await readFile(`${SERVICE_ACCOUNT}/ca.crt`, "utf8"),
      tokenFile: `${SERVICE_ACCOUNT}/token`,
    });
  }
  const path = env.KUBECONFIG?.split(":")[0] || resolve(env.HOME ?? homedir(), ".kube", "config");
  const base = dirname(path);
  // Loaded here, not on import: in a cluster the operator reads its ServiceAccount and never a
  // kubeconfig, and the YAML parser (72 modules) would stay in its memory for nothing.
  const { parse } = await import("yaml");
  const doc = parse(await readFile(path, "utf8")) as {
    "current-context"?: string;
    contexts?: NamedEntry<never>[];
    clusters?: NamedEntry<never>[];
    users?: NamedEntry<never>[];
  };
  const named = <T>(list: NamedEntry<never>[] | undefined, name: string | undefined, field: string): T | null =>
    ((list ?? []).find((e) => e.name === name)?.[field] as T | undefined) ?? null;
  const context = named<{ cluster?: string; user?: string }>(doc.contexts, doc["current-context"], "context");
  const cluster = named<KubeconfigCluster>(doc.clusters, context?.cluster, "cluster");
  const user = named<KubeconfigUser>(doc.users, context?.user, "user") ?? {};
  if (!cluster?.server) throw new Error(`the kubeconfig ${path} has no current cluster with a server`);
  if (user.exec !== undefined || user["auth-provider"] !== undefined || user.username !== undefined) return null;
  const file = (p: string | undefined) => (p ? readFile(resolve(base, p), "utf8") : Promise.resolve(undefined));
  const data = (b64: string | undefined) => (b64 ? Buffer.from(b64, "base64").toString("utf8") : undefined);
  return authFrom(cluster.server, {
    ca: data(cluster["certificate-authority-data"]) ?? (await file(cluster["certificate-authority"])),
    cert: data(user["client-certificate-data"]) ?? (await file(user["client-certificate"])),
    key: data(user["client-key-data"]) ?? (await file(user["client-key"])),
    insecure: cluster["insecure-skip-tls-verify"] === true,
    token: user.token,
    tokenFile: user.tokenFile ? resolve(base, user.tokenFile) : undefined,
  });
}

/**
 * Credentials for a KubeClient: loadKubeAuth's when it can (service account, certificates,
 * tokens), else — an exec plugin or auth provider in a developer's kubeconfig — client-node's
 * `KubeConfig`, loaded only then.
 */
export async function loadKubeCredentials(env: Parameters<typeof loadKubeAuth>[0]): Promise<KubeAuth | KubeConfig> {
  const light = await loadKubeAuth(env);
  if (light) return light;
  const { KubeConfig } = await import("@kubernetes/client-node");
  const config = new KubeConfig();
  if (env.KUBECONFIG) config.loadFromFile(env.KUBECONFIG);
  else config.loadFromDefault();
  return config;
}

function authFrom(
  server: string,
  tls: {
    ca?: string | undefined;
    cert?: string | undefined;
    key?: string | undefined;
    insecure?: boolean;
    token?: string | undefined;
    tokenFile?: string | undefined;
  },
): KubeAuth {
  // One pool for the client's life: a TLS handshake per request would cost more than the request.
  const dispatcher = server.startsWith("https:")
    ? new Agent({
        connect: {
          ...(tls.ca ? { ca: tls.ca } : {}),
          ...(tls.cert ? { cert: tls.cert } : {}),
          ...(tls.key ? { key: tls.key } : {}),
          rejectUnauthorized: !tls.insecure,
        },
      })
    : undefined;
  let token = tls.token;
  let readAt = 0;
  return {
    server: server.replace(/\/$/, ""),
    async authenticate() {
      // Projected service-account tokens rotate: read the file again at most once a minute.
      if (tls.tokenFile && Date.now() - readAt > 60_000) {
        token = (await readFile(tls.tokenFile, "utf8")).trim();
        readAt = Date.now();
      }
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      return { headers, dispatcher };
    },
  };
}
