import type { ObjectMeta } from "./api/tenant.ts";
import type { ObjectRef } from "./ports.ts";

/** The reference the Kubernetes port patches status, finalizers and Events through. */
export function objectRef(kind: ObjectRef["kind"], metadata: ObjectMeta): ObjectRef {
  return {
    kind,
    name: metadata.name,
    ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
    uid: metadata.uid,
    resourceVersion: metadata.resourceVersion,
  };
}
