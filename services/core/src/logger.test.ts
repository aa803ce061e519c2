import { Writable } from "node:stream";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { createLogger, redactUrl, scrubSecrets } from "./logger.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { lines, destination };
}

describe("createLogger", () => {
  it("never writes tokens, passwords, signatures, cookies or connection URLs", () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: "test", destination });
    const secrets = {
      password: "hunter2-password",
      token: "xoxb-secret-token",
      credentials: { botToken: "xoxb-nested", signingSecret: "signing-nested" },
      headers: { authorization: "Bearer session-token", cookie: "konstruct_webchat=abc", "x-slack-signature": "v0=deadbeef" },
      req: { headers: { authorization: "Bearer req-token", "x-slack-signature": "v0=cafe" } },
      env: { DATABASE_URL: "postgres://konstruct_app:db-password@db/konstruct", KONSTRUCT_SECRET_KEY: "key-material" },
      connection: { botToken: "xoxb-child", signingSecret: "child-secret" },
    };
    log.info(secrets, "with secrets");
    log.child({ tenantId: "t" }).warn({ connection: secrets.connection }, "child with secrets");
    const written = lines.join("");
    for (const value of [
      "hunter2-password",
      "xoxb-secret-token",
      "xoxb-nested",
      "signing-nested",
      "session-token",
      "konstruct_webchat=abc",
      "v0=deadbeef",
      "req-token",
      "v0=cafe",
      "db-password",
      "key-material",
      "xoxb-child",
      "child-secret",
    ]) {
      expect(written).not.toContain(value);
    }
    expect(written).toContain("[redacted]");
    expect(written).toContain('"msg":"with secrets"');
  });

  it("censors what sits two levels under a log object or a child's bindings, and leaves the caller's objects as they were", () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: "test", destination });
    const logged = { a: { b: { token: "deep-token", kept: "visible-1" } }, headers: { Cookie: "session=abc" }, n: 1 };
    const snapshot = structuredClone(logged);
    log.info(logged, "nested");
    log.child({ connection: { credentials: { password: "child-bound" } }, tenantId: "visible-2" }).info("bound");
    const written = lines.join("");
    expect(written).not.toContain("deep-token");
    expect(written).not.toContain("session=abc");
    expect(written).not.toContain("child-bound");
    expect(written).toContain("visible-1");
    expect(written).toContain("visible-2");
    expect(logged).toEqual(snapshot);
    // Three levels under the top is past what is checked: a log object is not a document.
    expect(scrubSecrets({ a: { b: { c: { token: "x" } } } })).toEqual({ a: { b: { c: { token: "x" } } } });
    // Nothing sensitive: the very same object, no copy.
    const plain = { tenantId: "t", kind: "answer" };
    expect(scrubSecrets(plain)).toBe(plain);
  });

  it("scrubs the bindings of children of children, and of fastify's logger per request", async () => {
    const { lines, destination } = capture();
    const log = createLogger({ name: "test", destination });
    log.child({ tenantId: "t" }).child({ token: "grandchild-token" }).info("grandchild");
    const app = Fastify({ loggerInstance: log });
    app.get("/", async (request) => {
      request.log.child({ credentials: { botToken: "per-request-token" } }).warn("in a request");
      request.log.warn({ headers: { authorization: "Bearer request-header" } }, "headers");
      return "ok";
    });
    expect((await app.inject({ method: "GET", url: "/" })).statusCode).toBe(200);
    await app.close();
    const written = lines.join("");
    expect(written).toContain('"msg":"in a request"');
    for (const value of ["grandchild-token", "per-request-token", "request-header"]) expect(written).not.toContain(value);
  });

  it("redactUrl hides only the password", () => {
    expect(redactUrl("redis://default:s3cret@127.0.0.1:6379")).toBe("redis://default:***@127.0.0.1:6379");
    expect(redactUrl("not a url")).toBe("[unparseable url]");
  });
});
