import { describe, expect, it } from "vitest";
import { checkTelegramCredentials } from "./webhook.ts";

describe("checkTelegramCredentials", () => {
  it("accepts what Telegram accepts", () => {
    expect(checkTelegramCredentials({ botToken: "123456789:AAE-x_y", webhookSecret: "a".repeat(256) })).toEqual([]);
    expect(checkTelegramCredentials({ botToken: "1:x", webhookSecret: "A-z_0" })).toEqual([]);
  });

  it("names the allowed characters for a webhook secret Telegram would refuse, without echoing it", () => {
    for (const secret of ["has space", "ümlaut", "a".repeat(257), "dot.ted", "slash/"]) {
      const [problem] = checkTelegramCredentials({ botToken: "1:x", webhookSecret: secret });
      expect(problem, secret).toMatch(/webhookSecret must be 1 to 256 characters of A-Z a-z 0-9 _ -/);
      expect(problem).not.toContain(secret);
    }
  });

  it("refuses a token that is not <bot id>:<secret>", () => {
    expect(checkTelegramCredentials({ botToken: "not-a-token", webhookSecret: "ok" })).toEqual([
      "botToken is not a bot token (<bot id>:<secret> as BotFather gives it)",
    ]);
  });
});
