/** Reads a server URL that scripts/test.sh exports after starting the local servers. */
export function serverUrl(name: "DATABASE_ADMIN_URL" | "REDIS_ADMIN_URL" | "NATS_URL"): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run integration tests through \`npm test\`, which starts the local servers (scripts/servers.sh)`,
    );
  }
  return value;
}
