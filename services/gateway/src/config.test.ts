import { ConfigError } from "@konstruct/core";
import { describe, expect, it } from "vitest";
import { loadConfig, slackOAuthSettings, teamsSettings } from "./config.ts";

const BASE = {
  DATABASE_URL: "postgres://konstruct_app@127.0.0.1:5432/konstruct",
  REDIS_URL: "redis://127.0.0.1:6379",
  NATS_URL: "nats://127.0.0.1:4222",
  SLACK_SIGNING_SECRET: "platform-signing-secret",
  KONSTRUCT_SECRET_KEY: `${"A".repeat(43)}=`,
};
const OAUTH = {
  SLACK_CLIENT_ID: "1234.5678",
  SLACK_CLIENT_SECRET: "client-secret",
  SLACK_OAUTH_REDIRECT_URL: "https://konstruct.example/webhooks/slack/oauth/callback",
};

describe("the gateway's configuration", () => {
  it("has no Slack installs without the shared app's OAuth settings", () => {
    expect(slackOAuthSettings(loadConfig(BASE))).toBeUndefined();
  });

  it("takes the shared app's OAuth settings together, with the scopes as a list", () => {
    const settings = slackOAuthSettings(loadConfig({ ...BASE, ...OAUTH, SLACK_OAUTH_SCOPES: "chat:write,im:history" }));
    expect(settings).toMatchObject({ clientId: "1234.5678", scopes: ["chat:write", "im:history"] });
  });

  it("refuses part of the shared app's OAuth settings, naming all three", () => {
    const { SLACK_CLIENT_SECRET: _missing, ...partial } = OAUTH;
    expect(() => loadConfig({ ...BASE, ...partial })).toThrow(ConfigError);
    expect(() => loadConfig({ ...BASE, ...partial })).toThrow(
      /SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_OAUTH_REDIRECT_URL/,
    );
  });

  it("lists the Teams service URLs one by one, without the spaces around commas", () => {
    const config = loadConfig({ ...BASE, TEAMS_SERVICE_URLS: "https://smba.trafficmanager.net, https://*.example.com" });
    expect(teamsSettings(config).serviceUrls).toEqual(["https://smba.trafficmanager.net", "https://*.example.com"]);
  });
});
