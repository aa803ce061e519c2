/**
 * Namespaces no Tenant may use, whoever created them: `default` and Kubernetes' own `kube-*`.
 * The API server refuses them (a CEL rule on spec.namespace derived from this list); the
 * operator refuses them too, and the install namespace, which only it knows.
 */
export const RESERVED_NAMESPACES = ["default"] as const;
export const RESERVED_NAMESPACE_PREFIXES = ["kube-"] as const;

/** Where the operator runs unless told otherwise (LEASE_NAMESPACE and INSTALL_NAMESPACE default to it). */
export const DEFAULT_INSTALL_NAMESPACE = "konstruct-system";

/** Whether `namespace` is `default` or `kube-*` (not the install namespace: see tenant-claims.ts). */
export function isReservedNamespace(namespace: string): boolean {
  return (
    (RESERVED_NAMESPACES as readonly string[]).includes(namespace) ||
    RESERVED_NAMESPACE_PREFIXES.some((p) => namespace.startsWith(p))
  );
}

/** The same test as a CEL expression over `self` (a namespace name), for the CRD. */
export const NOT_RESERVED_NAMESPACE_RULE = [
  ...RESERVED_NAMESPACES.map((n) => `self != '${n}'`),
  ...RESERVED_NAMESPACE_PREFIXES.map((p) => `!self.startsWith('${p}')`),
].join(" && ");
