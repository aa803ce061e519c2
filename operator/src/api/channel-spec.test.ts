import { CHANNEL_TYPES, CHANNELS, type ChannelDefinition } from "@konstruct/channels";
import { describe, expect, it } from "vitest";
import { tenantCrd } from "./crds.ts";

type Schema = {
  properties?: Record<string, Schema>;
  items?: Schema;
  enum?: string[];
  pattern?: string;
  "x-kubernetes-validations"?: { rule: string }[];
};

const channelSchema = (): Schema => {
  const root = (tenantCrd.spec.versions as { schema: { openAPIV3Schema: Schema } }[])[0]?.schema.openAPIV3Schema;
  return root?.properties?.spec?.properties?.channels?.items as Schema;
};
const rules = () => (channelSchema()["x-kubernetes-validations"] ?? []).map((r) => r.rule);

describe("the Tenant CRD's channels derive from the channel list", () => {
  it("accepts only real origins in allowedOrigins: they end up in the page's Content-Security-Policy", () => {
    const pattern = new RegExp(channelSchema().properties?.allowedOrigins?.items?.pattern as string);
    for (const good of ["https://www.acme.example", "http://localhost:3000", "http://127.0.0.1:8080"]) {
      expect(good, good).toMatch(pattern);
    }
    for (const bad of [
      "*",
      "https://*",
      "https://a.example;script-src *",
      "https://a.example b",
      "https://a.example/path",
      "javascript:x",
    ]) {
      expect(bad, bad).not.toMatch(pattern);
    }
  });

  it("accepts exactly the channel types the modules declare", () => {
    expect(channelSchema().properties?.type?.enum).toEqual([...CHANNEL_TYPES]);
  });

  it("requires credentialsSecretRef for every channel with required credentials, and only for those", () => {
    for (const channel of CHANNELS as readonly ChannelDefinition[]) {
      // A channel installed through the platform is exempt when its spec entry says so.
      const exempt = channel.install === undefined ? "" : ` || (${channel.install.when})`;
      const rule = `self.type != '${channel.type}' || has(self.credentialsSecretRef)${exempt}`;
      if (channel.credentials.required.length > 0) expect(rules()).toContain(rule);
      else expect(rules()).not.toContain(rule);
    }
  });

  it("enforces each channel's external id pattern", () => {
    for (const channel of CHANNELS as readonly ChannelDefinition[]) {
      if (channel.externalId.pattern === undefined) continue;
      expect(rules()).toContain(`self.type != '${channel.type}' || self.externalId.matches('${channel.externalId.pattern}')`);
    }
  });

  it("offers each channel's own fields, forbidden on the other types", () => {
    for (const channel of CHANNELS as readonly ChannelDefinition[]) {
      for (const field of Object.keys(channel.specFields)) {
        expect(channelSchema().properties).toHaveProperty(field);
        expect(rules()).toContain(`self.type == '${channel.type}' || !has(self.${field})`);
      }
    }
  });
});
