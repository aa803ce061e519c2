import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NATS_USERS, type NatsUser } from "@konstruct/core";

/**
 * The secrets a local install needs, generated on the first start and kept in
 * `.data/local/secrets.json` (git-ignored, mode 0600), so a second start reuses the data they
 * protect: channel credentials encrypted under KONSTRUCT_SECRET_KEY stay readable, and the NATS
 * passwords stay those of the users scripts/servers.sh configured the local NATS with.
 */
export interface LocalSecrets {
  KONSTRUCT_SECRET_KEY: string;
  SLACK_SIGNING_SECRET: string;
  WEBCHAT_SESSION_SECRET: string;
  /** The password of each NATS user (services/core/src/nats/permissions.ts). */
  NATS_PASSWORDS: Record<NatsUser, string>;
}

/** Reads the local secrets, creating any that are missing. Environment variables win. */
export function loadLocalSecrets(dataDir: string, env: NodeJS.ProcessEnv): LocalSecrets {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, "secrets.json");
  const stored: Partial<LocalSecrets> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const secrets: LocalSecrets = {
    KONSTRUCT_SECRET_KEY: stored.KONSTRUCT_SECRET_KEY ?? randomBytes(32).toString("base64"),
    SLACK_SIGNING_SECRET: stored.SLACK_SIGNING_SECRET ?? randomBytes(16).toString("hex"),
    WEBCHAT_SESSION_SECRET: stored.WEBCHAT_SESSION_SECRET ?? randomBytes(32).toString("hex"),
    // Hex: a password goes into a NATS URL and a server configuration file unescaped.
    NATS_PASSWORDS: Object.fromEntries(
      NATS_USERS.map((user) => [user, stored.NATS_PASSWORDS?.[user] ?? randomBytes(24).toString("hex")]),
    ) as Record<NatsUser, string>,
  };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return {
    ...secrets,
    KONSTRUCT_SECRET_KEY: env.KONSTRUCT_SECRET_KEY || secrets.KONSTRUCT_SECRET_KEY,
    SLACK_SIGNING_SECRET: env.SLACK_SIGNING_SECRET || secrets.SLACK_SIGNING_SECRET,
    WEBCHAT_SESSION_SECRET: env.WEBCHAT_SESSION_SECRET || secrets.WEBCHAT_SESSION_SECRET,
  };
}
