import type { KubernetesPort, ObjectRef } from "./ports.ts";

/** What the finalizer helpers read of a Tenant or an Agent. */
interface Finalizable {
  metadata: { finalizers?: string[] };
}

/** Adds `finalizer` before anything is created for the object, so no deletion can outrun its cleanup. */
export async function ensureFinalizer(
  kube: KubernetesPort,
  ref: ObjectRef,
  object: Finalizable,
  finalizer: string,
): Promise<void> {
  const finalizers = object.metadata.finalizers ?? [];
  if (!finalizers.includes(finalizer)) await kube.setFinalizers(ref, [...finalizers, finalizer]);
}

/**
 * A deleted object: runs `cleanUp`, then releases `finalizer`. An object that does not hold the
 * finalizer (already released, or never provisioned) is left alone. A failing cleanUp throws,
 * so the finalizer stays and the work queue retries with backoff.
 */
export async function finalize(
  kube: KubernetesPort,
  ref: ObjectRef,
  object: Finalizable,
  finalizer: string,
  cleanUp: () => Promise<void>,
): Promise<void> {
  const finalizers = object.metadata.finalizers ?? [];
  if (!finalizers.includes(finalizer)) return;
  await cleanUp();
  await kube.setFinalizers(
    ref,
    finalizers.filter((f) => f !== finalizer),
  );
}
