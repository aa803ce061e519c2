import { type Database, hashPassword, verifyPassword, withTenant } from "@konstruct/core";
import type { Kysely } from "kysely";
import { PortalError } from "../errors.ts";
import type { Session } from "./sessions.ts";
import { endSessionsOf } from "./sessions.ts";
import { checkNewPassword, MAX_PASSWORD_LENGTH } from "./sign-in.ts";
import type { SignInThrottle } from "./throttle.ts";

/**
 * Changes the signed-in person's password after checking the current one (a session left open
 * on a shared computer is not enough), and ends every other session of theirs. A wrong current
 * password counts as a failed sign-in, so this is no side door for guessing.
 */
export async function changePassword(
  db: Kysely<Database>,
  throttle: SignInThrottle,
  session: Session,
  address: string,
  input: { currentPassword: unknown; newPassword: unknown },
): Promise<{ endedSessions: number }> {
  const current = typeof input.currentPassword === "string" ? input.currentPassword.slice(0, MAX_PASSWORD_LENGTH) : "";
  const next = typeof input.newPassword === "string" ? input.newPassword : "";
  const wait = await throttle.lockedFor(session.email, address);
  if (wait > 0) throw new PortalError("throttled", "Too many wrong passwords. Wait and try again.", { retryAfter: wait });
  const problem = checkNewPassword(next);
  if (problem) throw new PortalError("invalid", "Check the highlighted fields.", { fields: { newPassword: problem } });
  const row = await withTenant(db, session.tenantId, (trx) =>
    trx.selectFrom("portal_users").select("password_hash").where("id", "=", session.userId).executeTakeFirstOrThrow(),
  );
  if (!(await verifyPassword(row.password_hash, current))) {
    await throttle.fail(session.email, address);
    throw new PortalError("invalid", "Check the highlighted fields.", {
      fields: { currentPassword: "This is not your current password." },
    });
  }
  const hash = await hashPassword(next);
  return withTenant(db, session.tenantId, async (trx) => {
    await trx
      .updateTable("portal_users")
      .set({ password_hash: hash, password_changed_at: new Date() })
      .where("id", "=", session.userId)
      .execute();
    return { endedSessions: await endSessionsOf(trx, session.userId, session.id) };
  });
}
