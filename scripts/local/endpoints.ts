import type { TenantReport } from "./cluster.ts";
import { print } from "./output.ts";

/** What else `npm start` prints besides each tenant's channels. */
export interface PortalEndpoints {
  /** The portal's base URL; its pages are under /portal/. */
  portalUrl: string;
}

/** Prints where to talk to each tenant's agents and where the portal is; returns the web chat page URLs. */
export function printEndpoints(reports: TenantReport[], gatewayPort: number, portal?: PortalEndpoints): string[] {
  const base = `http://127.0.0.1:${gatewayPort}`;
  const webchat: string[] = [];
  print(`\nKonstruct is running. Talk to the agents:`);
  for (const report of reports) {
    print(`  tenant ${report.name} (${report.tenantId})`);
    for (const channel of report.channels) {
      if (!channel.webhookPath) {
        print(`    ${channel.type} ${channel.name}: not ready — ${channel.message ?? "no webhook path"}`);
        continue;
      }
      const url = `${base}${channel.webhookPath}`;
      if (channel.type === "webchat") webchat.push(url);
      const label = { webchat: "web chat", slack: "Slack webhook", telegram: "Telegram webhook", whatsapp: "WhatsApp webhook" }[
        channel.type
      ];
      print(`    ${label ?? `${channel.type} webhook`} (${channel.name}): ${url}`);
    }
    // The platform admin hands each first owner their one-time link; nothing is e-mailed.
    for (const owner of report.owners) {
      print(`    portal owner ${owner.email}: ${owner.link ?? "joined (signs in with their password)"}`);
    }
  }
  print(`  Slack (the platform's shared app, tenant chosen by team id): ${base}/webhooks/slack/events`);
  if (portal !== undefined) {
    print(`\nThe portal (people of each tenant manage their agents here): ${portal.portalUrl}/portal/`);
  }
  return webchat;
}
