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

/** A channel of one of the examples' Tenants, with the data of the Secret it references. */
export interface ExampleChannel {
  tenant: string;
  externalId: string;
  secret: Record<string, string>;
}

/** The examples' channels of `type` that reference a Secret, each with that Secret's data. */
export function exampleChannels(manifests: Manifest[], type: string): ExampleChannel[] {
  const secrets = new Map(
    manifests.filter((m) => m.kind === "Secret").map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s.stringData ?? {}]),
  );
  return manifests
    .filter((m) => m.kind === "Tenant")
    .flatMap((t) =>
      (t.spec.channels ?? [])
        .filter((c: Manifest) => c.type === type && c.credentialsSecretRef)
        .map((c: Manifest) => ({
          tenant: t.metadata?.name as string,
          externalId: c.externalId as string,
          secret: secrets.get(`${t.spec.namespace ?? `konstruct-${t.metadata?.name}`}/${c.credentialsSecretRef.name}`) ?? {},
        })),
    );
}
