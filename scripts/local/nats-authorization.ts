import { natsAuthorizationConfig } from "@konstruct/core";
import { localDataDir } from "./paths.ts";
import { loadLocalSecrets } from "./secrets.ts";

/**
 * Prints the `authorization` block of the local nats-server's configuration: the users and
 * permissions of services/core's table, with the passwords of `.data/local/secrets.json`
 * (created when missing, so `npm start` later hands the services the same ones), plus the
 * development admin scripts/servers.sh names in NATS_URL. Run by scripts/servers.sh:
 *
 *   NATS_ADMIN_USER=admin NATS_ADMIN_PASSWORD=… node scripts/local/nats-authorization.ts
 */
const { NATS_ADMIN_USER, NATS_ADMIN_PASSWORD } = process.env;
if (!NATS_ADMIN_USER || !NATS_ADMIN_PASSWORD) {
  process.stderr.write("nats-authorization: NATS_ADMIN_USER and NATS_ADMIN_PASSWORD must be set\n");
  process.exit(2);
}
const secrets = loadLocalSecrets(localDataDir(process.env), process.env);
process.stdout.write(
  natsAuthorizationConfig(
    (user) => JSON.stringify(secrets.NATS_PASSWORDS[user]),
    [{ user: NATS_ADMIN_USER, password: NATS_ADMIN_PASSWORD }],
  ),
);
