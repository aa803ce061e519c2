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

/** The JSON names client-node's V1JSONSchemaProps model keeps under other property names. */
const SCHEMA_KEYS: Record<string, string> = { default: "_default", enum: "_enum", $ref: "ref", $schema: "schema" };

/**
 * A JSON schema in the shape client-node's typed serializer reads: it looks a CRD's schema up by
 * model property names (`_default`, `_enum`, `x_kubernetes_list_type`), so the plain JSON keys
 * (`default`, `enum`, `x-kubernetes-*`) of every schema outside an array's `items` would be
 * dropped silently — a CRD without those defaults, enums, CEL rules and list types. The model
 * types `items` and `additionalProperties` as `any` and passes them through, so they stay plain;
 * property names under `properties` stay as they are.
 */
function toSchemaModel(schema: unknown): unknown {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema as Record<string, unknown>)) {
    const name = SCHEMA_KEYS[key] ?? (key.startsWith("x-kubernetes-") ? key.replaceAll("-", "_") : key);
    if (key === "properties" || key === "patternProperties" || key === "definitions") {
      out[name] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toSchemaModel(v)]));
    } else if (key === "allOf" || key === "anyOf" || key === "oneOf") {
      out[name] = (value as unknown[]).map(toSchemaModel);
    } else if (key === "not") {
      out[name] = toSchemaModel(value);
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** `object`, with a CustomResourceDefinition's schemas renamed for client-node's serializer (see toSchemaModel). */
function forSerializer(object: Manifest): Manifest {
  if (object.kind !== "CustomResourceDefinition" || !Array.isArray(object.spec?.versions)) return object;
  return {
    ...object,
    spec: {
      ...object.spec,
      versions: object.spec.versions.map((v: Manifest) =>
        v.schema?.openAPIV3Schema
          ? { ...v, schema: { ...v.schema, openAPIV3Schema: toSchemaModel(v.schema.openAPIV3Schema) } }
          : v,
      ),
    },
  };
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
      client.patch(
        forSerializer(object),
        undefined,
        dryRun ? "All" : undefined,
        fieldManager,
        true,
        PatchStrategy.ServerSideApply,
      ),
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
