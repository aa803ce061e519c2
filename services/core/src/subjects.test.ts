import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SubjectError, TenantIdError } from "./errors.ts";
import {
  deadLetterSubject,
  inboundSubject,
  outboundSubject,
  replyStreamSubject,
  replyStreamWildcard,
  tenantOfReplyStream,
  workSubject,
} from "./subjects.ts";

describe("NATS subjects", () => {
  it("puts the tenant id in the work subject as exactly one token", () => {
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), fc.uuid({ version: 4 }), (a, b) => {
        const subject = workSubject(a);
        expect(subject.split(".")).toEqual(["konstruct", "work", a]);
        if (a !== b) expect(subject).not.toBe(workSubject(b));
      }),
    );
  });

  it("no input builds a wildcard, an extra token or another tenant's subject", () => {
    fc.assert(
      fc.property(fc.string(), (input) => {
        for (const build of [workSubject, inboundSubject, outboundSubject]) {
          let subject: string;
          try {
            subject = build(input);
          } catch (error) {
            expect(error instanceof SubjectError || error instanceof TenantIdError).toBe(true);
            continue;
          }
          expect(subject.split(".")).toHaveLength(3);
          expect(subject).not.toMatch(/[*>\s]/);
        }
      }),
      { numRuns: 2_000 },
    );
    expect(() => workSubject("*")).toThrow(TenantIdError);
    expect(() => workSubject(">")).toThrow(TenantIdError);
    expect(() => inboundSubject("slack.>")).toThrow(SubjectError);
    expect(() => outboundSubject("")).toThrow(SubjectError);
  });

  it("builds the channel subjects the message-flow contract fixes", () => {
    expect(inboundSubject("slack")).toBe("konstruct.inbound.slack");
    expect(outboundSubject("webchat")).toBe("konstruct.outbound.webchat");
    expect(deadLetterSubject("KONSTRUCT_WORK")).toBe("konstruct.deadletter.KONSTRUCT_WORK");
    expect(() => deadLetterSubject("work.>")).toThrow(SubjectError);
  });

  it("puts replies as they are written under their tenant, and reads the tenant back from nothing else", () => {
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), (tenantId) => {
        const subject = replyStreamSubject(tenantId, "webchat");
        expect(subject.split(".")).toEqual(["konstruct", "stream", tenantId, "webchat"]);
        expect(tenantOfReplyStream(subject)).toBe(tenantId);
      }),
    );
    expect(replyStreamWildcard("webchat")).toBe("konstruct.stream.*.webchat");
    expect(() => replyStreamSubject("*", "webchat")).toThrow(TenantIdError);
    expect(() => replyStreamSubject("7f3a1c2e-4b5d-4e6f-8a9b-0c1d2e3f4a5b", "webchat.>")).toThrow(SubjectError);
    for (const other of [
      "konstruct.work.7f3a1c2e-4b5d-4e6f-8a9b-0c1d2e3f4a5b",
      "konstruct.stream.*.webchat",
      "konstruct.stream.x.y.z",
    ]) {
      expect(tenantOfReplyStream(other)).toBeNull();
    }
  });
});
