import {
  type Database,
  hashPassword,
  isPortalToken,
  newPortalToken,
  type PortalRole,
  portalTokenDigest,
  withTenant,
} from "@konstruct/core";
import { type Kysely, sql, type Transaction } from "kysely";
import { PortalError } from "../errors.ts";
import { openSession, type SessionLifetime, type SessionOrigin } from "./sessions.ts";
import { checkNewPassword } from "./sign-in.ts";
import { normalizeEmail } from "./throttle.ts";

/** How long an invitation an owner makes stays valid (the operator's first-owner links: the same). */
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

/** An invitation as the accept page shows it. */
export interface Invitation {
  id: string;
  tenantId: string;
  tenantDisplayName: string;
  email: string;
  role: PortalRole;
}

interface InvitationRow {
  invitation_id: string;
  tenant_id: string;
  email: string;
  role: PortalRole;
  expires_at: Date;
  accepted_at: Date | null;
}

const UNUSABLE =
  "This invitation link is not valid: it was already used, it expired, or it was mistyped. Ask whoever invited you for a new link.";

/** The open invitation a token names; not found when unknown, used or expired (one message for all three). */
export async function findInvitation(db: Kysely<Database>, token: string): Promise<Invitation> {
  if (!isPortalToken(token)) throw new PortalError("not_found", UNUSABLE);
  const { rows } = await sql<InvitationRow>`select * from konstruct_portal_invitation(${portalTokenDigest(token)})`.execute(db);
  const row = rows[0];
  if (row === undefined || row.accepted_at !== null || row.expires_at.getTime() <= Date.now()) {
    throw new PortalError("not_found", UNUSABLE);
  }
  const tenant = await withTenant(db, row.tenant_id, (trx) =>
    trx.selectFrom("tenants").select("display_name").where("id", "=", row.tenant_id).executeTakeFirst(),
  );
  if (tenant === undefined) throw new PortalError("not_found", UNUSABLE);
  return {
    id: row.invitation_id,
    tenantId: row.tenant_id,
    tenantDisplayName: tenant.display_name,
    email: row.email,
    role: row.role,
  };
}

/**
 * Accepts an invitation: the person, with the invitation's email and role, the invitation
 * marked accepted, and a first session — in one transaction, so a token is used once even
 * when two browsers submit it at the same moment (the row is locked and re-checked).
 */
export async function acceptInvitation(
  db: Kysely<Database>,
  token: string,
  person: { displayName: string; password: string },
  origin: SessionOrigin,
  lifetime: SessionLifetime,
): Promise<{ token: string; csrfToken: string }> {
  const invitation = await findInvitation(db, token);
  const displayName = person.displayName.trim();
  const fields: Record<string, string> = {};
  if (displayName.length === 0 || displayName.length > 200) fields.displayName = "Enter your name (up to 200 characters).";
  const passwordProblem = checkNewPassword(person.password);
  if (passwordProblem) fields.password = passwordProblem;
  if (Object.keys(fields).length > 0) throw new PortalError("invalid", "Check the highlighted fields.", { fields });
  const passwordHash = await hashPassword(person.password);
  try {
    return await withTenant(db, invitation.tenantId, async (trx) => {
      const open = await trx
        .selectFrom("portal_invitations")
        .select(["id", "email", "role"])
        .where("id", "=", invitation.id)
        .where("accepted_at", "is", null)
        .where("expires_at", ">", new Date())
        .forUpdate()
        .executeTakeFirst();
      if (open === undefined) throw new PortalError("not_found", UNUSABLE);
      const user = await trx
        .insertInto("portal_users")
        .values({
          tenant_id: invitation.tenantId,
          email: normalizeEmail(open.email),
          password_hash: passwordHash,
          role: open.role,
          display_name: displayName,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      await trx
        .updateTable("portal_invitations")
        .set({ accepted_at: new Date(), accepted_by: user.id })
        .where("id", "=", open.id)
        .execute();
      return openSession(trx, { tenantId: invitation.tenantId, userId: user.id }, origin, lifetime);
    });
  } catch (error) {
    if ((error as { code?: string }).code === "23505") {
      throw new PortalError(
        "conflict",
        `${invitation.email} already has an account. Sign in with it instead; an email belongs to one organisation.`,
      );
    }
    throw error;
  }
}

/** Makes an invitation for `email` with `role`; returns the token, which only the link carries. */
export async function createInvitation(
  trx: Transaction<Database>,
  invitation: { tenantId: string; email: string; role: PortalRole; invitedBy: string },
): Promise<{ token: string; expiresAt: Date }> {
  const token = newPortalToken();
  const expiresAt = new Date(Date.now() + INVITATION_TTL_MS);
  await trx
    .insertInto("portal_invitations")
    .values({
      tenant_id: invitation.tenantId,
      email: normalizeEmail(invitation.email),
      role: invitation.role,
      token_hash: portalTokenDigest(token),
      invited_by: invitation.invitedBy,
      expires_at: expiresAt,
    })
    .execute();
  return { token, expiresAt };
}
