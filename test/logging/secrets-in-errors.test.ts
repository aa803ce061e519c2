import { Writable } from "node:stream";
import { createDatabase, createLogger } from "@konstruct/core";
import { serverUrl } from "@konstruct/testkit";
import { Redis } from "ioredis";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";

// Errors from real drivers, logged the way services log them: nothing secret may come out.
// ioredis puts the failed command's arguments on its errors (an AUTH failure carries the
// password); drivers repeat connection URLs in messages.

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { text: () => lines.join(""), destination };
}

describe("errors in logs", () => {
  it("a Redis AUTH failure logs the command's name, never the password", async () => {
    const { text, destination } = capture();
    const log = createLogger({ name: "test", destination });
    const url = new URL(serverUrl("REDIS_ADMIN_URL"));
    const password = `pw-${Math.random().toString(36).slice(2)}-never-logged`;
    // A service whose REDIS_URL has a wrong password: ioredis sends AUTH on connect and emits
    // the failure as an "error" event, which services log as they do here.
    const redis = new Redis({
      host: url.hostname,
      port: Number(url.port),
      username: "no-such-user",
      password,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const failure = await new Promise<Error>((resolve) => redis.once("error", resolve));
    redis.disconnect();
    // The raw error does carry it: this is what the serializer is for.
    expect(JSON.stringify((failure as { command?: unknown }).command)).toContain(password);
    log.warn({ err: failure }, "Redis connection error");
    log.error({ error: failure }, "Redis connection error (error key)");
    expect(text()).toContain("WRONGPASS");
    expect(text()).toContain('"name":"auth"');
    expect(text()).not.toContain(password);
  });

  it("a connection refused by PostgreSQL does not log the URL's password", async () => {
    const { text, destination } = capture();
    const log = createLogger({ name: "test", destination });
    const url = new URL(serverUrl("DATABASE_ADMIN_URL"));
    const password = `pw-${Math.random().toString(36).slice(2)}-never-logged`;
    url.username = "no_such_role";
    url.password = password;
    const db = createDatabase(url.toString(), { max: 1, applicationName: "konstruct-test" });
    try {
      const failure = await sql`select 1`.execute(db).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(Error);
      log.error({ err: new Error(`could not connect to ${url}`, { cause: failure }) }, "database unavailable");
    } finally {
      await db.destroy();
    }
    expect(text()).toContain("could not connect to postgres");
    expect(text()).not.toContain(password);
  });
});
