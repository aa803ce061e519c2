import { loadManifests, type Manifest } from "@konstruct/control-plane";
import { localTenantId } from "@konstruct/operator/local";

/** The objects of `examples/`, and the names of its Tenants. */
export interface Examples {
  manifests: Manifest[];
  tenantNames: string[];
}

/**
 * Reads `examples/`. A local install names its tenants' ids after the Tenants (as the file
 * driver does), so both ways of running reach the same rows and a wiped etcd does not orphan
 * the data.
 */
export function loadExamples(dir: string): Examples {
  const manifests = loadManifests(dir).map((m) =>
    m.kind === "Tenant" && !m.spec?.tenantId
      ? { ...m, spec: { ...m.spec, tenantId: localTenantId(m.metadata?.name as string) } }
      : m,
  );
  const tenantNames = manifests.filter((m) => m.kind === "Tenant").map((m) => m.metadata?.name as string);
  return { manifests, tenantNames };
}
