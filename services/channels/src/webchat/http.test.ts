import type { FastifyRequest } from "fastify";
import { describe, expect, it } from "vitest";
import { toWebchatError } from "./errors.ts";
import { readCookie } from "./http.ts";

const request = (cookie: string) => ({ headers: { cookie } }) as unknown as FastifyRequest;

describe("readCookie", () => {
  it("reads the named cookie among others", () => {
    expect(readCookie(request("a=1; konstruct_webchat=wc2.x.y; b=2"), "konstruct_webchat")).toBe("wc2.x.y");
  });

  it("turns a malformed cookie into the client's error (400), not the server's", () => {
    const malformed = request("konstruct_webchat=%E0%A4%A");
    let thrown: unknown;
    try {
      readCookie(malformed, "konstruct_webchat");
    } catch (error) {
      thrown = error;
    }
    expect(toWebchatError(thrown).status).toBe(400);
  });
});
