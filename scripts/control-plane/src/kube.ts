import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig, type KubernetesObject, KubernetesObjectApi, PatchStrategy } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object as read from a manifest. */
export type Manifest = KubernetesObject & Record<string, any>;

/** A client for `kubeconfigPath`. */
export function objectClient(kubeconfigPath: string): KubernetesObjectApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return KubernetesObjectApi.makeApiClient(kc);
}

/** Every object of every `.yaml` file in `dir`, files in name order. */
export function loadManifests(dir: string): Manifest[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), "utf8"))
        .map((d) => d.toJS() as Manifest | null)
        .filter((o): o is Manifest => o !== null),
    );
}

/** The API server's message for a failed request (client-node puts the Status in `body`). */
export function serverMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    return (typeof body === "string" ? JSON.parse(body) : (body as { message?: string })).message ?? String(error);
  } catch {
    return String(body ?? error);
  }
}

/**
 * Retries what the server answers with 429: right after a CRD is established its storage may
 * still be initializing ("storage is (re)initializing", Retry-After 1 s), as a client would.
 */
export async function retryingTooManyRequests<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: number }).code !== 429 || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Server-side applies one object (optionally as a dry run); the error names the object and the server's reason. */
export async function applyObject(
  client: KubernetesObjectApi,
  object: Manifest,
  fieldManager: string,
  dryRun = false,
): Promise<Manifest> {
  try {
    return await retryingTooManyRequests(() =>
      client.patch(object, undefined, dryRun ? "All" : undefined, fieldManager, true, PatchStrategy.ServerSideApply),
    );
  } catch (error) {
    const what = `${object.kind} ${object.metadata?.namespace ?? ""}/${object.metadata?.name}`;
    throw new Error(`${dryRun ? "dry run of " : ""}${what} was refused: ${serverMessage(error)}`, { cause: error });
  }
}

/** Applies objects in the order kubectl needs: namespaces and CRDs first. */
export async function applyObjects(client: KubernetesObjectApi, objects: Manifest[], fieldManager: string): Promise<void> {
  const first = (o: Manifest) => o.kind === "Namespace" || o.kind === "CustomResourceDefinition";
  for (const o of objects.filter(first)) await applyObject(client, o, fieldManager);
  for (const o of objects.filter((o) => !first(o))) await applyObject(client, o, fieldManager);
}

/** Waits until the CRD `name` is Established. */
export async function waitForEstablished(client: KubernetesObjectApi, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const crd = await client.read<Manifest>({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name },
    });
    if (crd.status?.conditions?.some((c: Manifest) => c.type === "Established" && c.status === "True")) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
