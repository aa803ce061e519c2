import {
  type Database,
  decryptSecret,
  encryptSecret,
  routeByConnectionId,
  routeByExternalId,
  type SecretKey,
  withTenant,
} from "@konstruct/core";
import { type Kysely, sql } from "kysely";
import { isOAuthInstall, SLACK_OAUTH_INSTALL } from "./definition.ts";

/** What an "Add to Slack" installation leaves with us: the bot token and who the bot is. Never logged. */
export interface SlackInstallation {
  teamId: string;
  botToken: string;
  botUserId: string | null;
  appId: string | null;
  scope: string | null;
}

/** A connection declared for installation (`install: oauth`), as its row says. */
export interface InstallTarget {
  tenantId: string;
  connectionId: string;
  /** The Slack team the Tenant's spec names for this connection (`externalId`). */
  teamId: string;
}

/**
 * The installations of the shared Slack app, kept in the credentials of the connections the
 * operator created from `install: oauth` spec entries. The gateway (as the app role, through
 * `withTenant`) writes only those credentials, only for a connection so declared and only for the
 * team the spec names; which connections exist stays the operator's business.
 */
export interface SlackInstallations {
  /**
   * The connection, when it exists and is declared for installation; with `tenantId`, only when
   * it is that tenant's (a state names both).
   */
  target(connectionId: string, tenantId?: string): Promise<InstallTarget | null>;
  /** Stores an installation, sealed for the tenant; false when the connection is gone or changed. */
  store(target: InstallTarget, installation: SlackInstallation): Promise<boolean>;
  /**
   * Forgets the installation in a team (`app_uninstalled`, or `tokens_revoked` naming its bot
   * user); returns the connection id when one was cleared.
   */
  remove(teamId: string, revokedBotUserIds: readonly string[] | null): Promise<string | null>;
}

/** The installations in PostgreSQL. */
export function createSlackInstallations(options: { db: Kysely<Database>; secretKey: SecretKey }): SlackInstallations {
  const { db, secretKey } = options;
  const declared = sql<boolean>`settings->>'install' = ${SLACK_OAUTH_INSTALL}`;
  return {
    async target(connectionId, tenantId) {
      const route = await routeByConnectionId(db, connectionId);
      if (route?.channelType !== "slack" || (tenantId !== undefined && route.tenantId !== tenantId)) return null;
      const row = await withTenant(db, route.tenantId, (trx) =>
        trx
          .selectFrom("channel_connections")
          .select(["external_id", "settings"])
          .where("id", "=", connectionId)
          .executeTakeFirst(),
      );
      if (!row || !isOAuthInstall(row.settings)) return null;
      return { tenantId: route.tenantId, connectionId, teamId: row.external_id };
    },
    async store(target, installation) {
      const sealed = encryptSecret(
        secretKey,
        target.tenantId,
        JSON.stringify({
          botToken: installation.botToken,
          botUserId: installation.botUserId,
          appId: installation.appId,
          scope: installation.scope,
          installedAt: new Date().toISOString(),
        }),
      );
      const result = await withTenant(db, target.tenantId, (trx) =>
        trx
          .updateTable("channel_connections")
          .set({ credentials: sealed, updated_at: new Date() })
          .where("id", "=", target.connectionId)
          .where("channel_type", "=", "slack")
          .where("external_id", "=", installation.teamId)
          .where(declared)
          .executeTakeFirst(),
      );
      return Number(result.numUpdatedRows) === 1;
    },
    async remove(teamId, revokedBotUserIds) {
      const route = await routeByExternalId(db, "slack", teamId);
      if (!route) return null;
      return withTenant(db, route.tenantId, async (trx) => {
        const row = await trx
          .selectFrom("channel_connections")
          .select(["credentials", "settings"])
          .where("id", "=", route.connectionId)
          .executeTakeFirst();
        // A tenant's own app (credentials from its Secret) is the operator's to change, never ours.
        if (!row?.credentials || !isOAuthInstall(row.settings)) return null;
        if (revokedBotUserIds !== null) {
          const stored = JSON.parse(decryptSecret(secretKey, route.tenantId, row.credentials)) as { botUserId?: unknown };
          // tokens_revoked names user tokens too; only the bot's own token ends the installation.
          if (typeof stored.botUserId === "string" && !revokedBotUserIds.includes(stored.botUserId)) return null;
        }
        await trx
          .updateTable("channel_connections")
          .set({ credentials: null, updated_at: new Date() })
          .where("id", "=", route.connectionId)
          .where(declared)
          .execute();
        return route.connectionId;
      });
    },
  };
}
