import { newPortalToken, portalTokenDigest } from "@konstruct/core/portal-tokens";
import {
  invitationLink,
  invitationSecretKey,
  invitationToken,
  OWNER_INVITATION_DAYS,
  PORTAL_INVITATIONS_SECRET,
} from "../api/portal.ts";
import type { Tenant } from "../api/tenant.ts";
import { jsonEqual, notReady, type Outcome, ok } from "../conditions.ts";
import { objectRef } from "../object-ref.ts";
import type { LiveInvitation } from "../ports.ts";
import { type TenantDeps, type TenantNames, tenantLabels } from "./tenant-context.ts";

/**
 * The Tenant's first owners (`spec.owners`) as one-time portal invitations. An owner with a
 * portal account is done (its key leaves the Secret); one whose link in the Secret still
 * matches a live invitation keeps it; anyone else gets a new invitation, valid
 * OWNER_INVITATION_DAYS, whose link goes into the Secret PORTAL_INVITATIONS_SECRET (owned by the
 * Tenant). The database keeps only the token's digest, so the Secret is the only copy of a link:
 * a link lost or replaced by hand is re-issued, and invitations no longer in the Secret (replaced,
 * or their owner left the list) are expired so their links stop working. Links are never logged.
 * A resync with nothing changed writes nothing.
 */
export async function ensureOwnerInvitations(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<Outcome> {
  const owners = (tenant.spec.owners ?? []).map((o) => o.email);
  const secret = await deps.kube.getSecret(names.namespace, PORTAL_INVITATIONS_SECRET);
  const state = await deps.invitations.state(names.tenantId, owners);
  const links: Record<string, string> = {};
  const kept = new Set<string>();
  const elsewhere: string[] = [];
  const clashing: string[] = [];
  let joined = 0;
  let issued = 0;
  for (const email of owners) {
    const lower = email.toLowerCase();
    if (state.joined.has(lower)) {
      joined++;
      continue;
    }
    if (state.elsewhere.has(lower)) {
      elsewhere.push(email);
      continue;
    }
    const key = invitationSecretKey(email);
    // Two emails with one key (a+b@x and a_b@x) would overwrite each other's link, and re-issue
    // on every resync: the later one waits until the list is told apart.
    if (key in links) {
      clashing.push(email);
      continue;
    }
    const live = matchingInvitation(state.live, lower, invitationToken(secret?.[key]));
    if (live !== null) {
      kept.add(live.invitation.id);
      links[key] = invitationLink(deps.portal.publicUrl, live.token);
      continue;
    }
    const token = newPortalToken();
    kept.add(await deps.invitations.issue(names.tenantId, email, portalTokenDigest(token), OWNER_INVITATION_DAYS));
    links[key] = invitationLink(deps.portal.publicUrl, token);
    issued++;
  }
  const stale = state.live.filter((i) => !kept.has(i.id)).map((i) => i.id);
  await deps.invitations.revoke(names.tenantId, stale);
  if ((secret === null && Object.keys(links).length > 0) || (secret !== null && !jsonEqual(secret, links))) {
    await writeLinks(tenant, names, deps, links);
  }
  if (issued > 0 || stale.length > 0)
    deps.log.info({ tenantId: names.tenantId, issued, revoked: stale.length }, "owner invitations issued");
  const invited = Object.keys(links).length;
  const summary = `${owners.length} owner(s): ${joined} joined, ${invited} invited (links in Secret ${PORTAL_INVITATIONS_SECRET} of ${names.namespace})`;
  if (clashing.length > 0) {
    return notReady(
      "OwnerKeyClash",
      `${summary}; ${clashing.join(", ")} would share a key of the Secret with another owner (only letters, digits, '-', '.' ` +
        "and '_' are kept): list one address per person, each different in those characters",
    );
  }
  if (elsewhere.length > 0) {
    return notReady(
      "OwnerEmailTaken",
      `${summary}; ${elsewhere.join(", ")} already sign(s) in to another tenant's portal, and an email belongs to one tenant: ` +
        "list another address for this tenant",
    );
  }
  return ok("OwnersInvited", summary);
}

/** The live invitation of `email` whose digest is the link's token's, with that token. */
function matchingInvitation(
  live: readonly LiveInvitation[],
  email: string,
  token: string | null,
): { invitation: LiveInvitation; token: string } | null {
  if (token === null) return null;
  const digest = portalTokenDigest(token);
  const invitation = live.find((i) => i.email.toLowerCase() === email && i.tokenHash.equals(digest));
  return invitation ? { invitation, token } : null;
}

async function writeLinks(tenant: Tenant, names: TenantNames, deps: TenantDeps, links: Record<string, string>): Promise<void> {
  await deps.kube.applySecret(
    names.namespace,
    PORTAL_INVITATIONS_SECRET,
    links,
    tenantLabels(tenant, names),
    objectRef("Tenant", tenant.metadata),
  );
}

/** A deleted Tenant: its owners' unaccepted invitations stop working and their links leave the Secret. */
export async function withdrawOwnerInvitations(tenant: Tenant, names: TenantNames, deps: TenantDeps): Promise<void> {
  const state = await deps.invitations.state(names.tenantId, []);
  await deps.invitations.revoke(
    names.tenantId,
    state.live.map((i) => i.id),
  );
  const secret = await deps.kube.getSecret(names.namespace, PORTAL_INVITATIONS_SECRET);
  if (secret !== null && Object.keys(secret).length > 0) await writeLinks(tenant, names, deps, {});
}
