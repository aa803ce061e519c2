// Local sandboxes of Telegram's Bot API and WhatsApp's Graph API: the channels' own doubles (the
// ones the tests use), knowing the examples' credentials, so `npm start` registers Telegram
// webhooks and delivers replies without reaching the internet.
import { startTelegramApi, startWhatsAppApi, type TelegramApiDouble, type WhatsAppApiDouble } from "@konstruct/channels/doubles";
import type { Manifest } from "@konstruct/control-plane";
import { exampleChannels } from "./examples.ts";
import type { Lifetime } from "./lifetime.ts";
import { color, print } from "./output.ts";

/** Where the gateway and operator send Telegram and WhatsApp calls. */
export interface MessagingApis {
  telegramApiUrl: string;
  whatsappApiUrl: string;
}

/**
 * Without TELEGRAM_API_URL (WHATSAPP_API_URL), starts that service's sandbox on a free loopback
 * port, knowing the examples' bots (numbers), and prints what is sent to it; with it, calls go there.
 */
export async function connectMessagingApis(
  env: NodeJS.ProcessEnv,
  manifests: Manifest[],
  lifetime: Lifetime,
): Promise<MessagingApis> {
  let telegramApiUrl = env.TELEGRAM_API_URL;
  if (!telegramApiUrl) {
    const sandbox: TelegramApiDouble = await startTelegramApi();
    lifetime.defer(() => sandbox.close());
    for (const { externalId, secret: data } of exampleChannels(manifests, "telegram")) {
      if (data.botToken) sandbox.addBot(data.botToken, { id: Number(externalId), username: `example_${externalId}_bot` });
    }
    telegramApiUrl = sandbox.url;
    print(`TELEGRAM_API_URL is not set: Telegram calls go to a local Bot API sandbox at ${sandbox.url}.`);
    echo(lifetime, () =>
      sandbox.calls
        .filter((c) => c.method !== "getMe")
        .map((c) => `${c.method} ${c.method === "sendMessage" ? `${c.args.chat_id}: ${c.args.text}` : (c.args.url ?? "")}`),
    );
  }
  let whatsappApiUrl = env.WHATSAPP_API_URL;
  if (!whatsappApiUrl) {
    // Sandbox customers are always inside the 24-hour window: nothing here can message them first.
    const sandbox: WhatsAppApiDouble = await startWhatsAppApi({ enforceWindow: false });
    lifetime.defer(() => sandbox.close());
    for (const { externalId, secret: data } of exampleChannels(manifests, "whatsapp")) {
      if (data.accessToken) sandbox.addNumber(externalId, { accessToken: data.accessToken, displayPhoneNumber: "15550000000" });
    }
    whatsappApiUrl = sandbox.url;
    print(`WHATSAPP_API_URL is not set: WhatsApp replies go to a local Graph API sandbox at ${sandbox.url}.`);
    echo(lifetime, () => sandbox.sent().map((m) => `messages ${m.phoneNumberId} → ${m.to}: ${m.text}`));
  }
  return { telegramApiUrl, whatsappApiUrl };
}

/** Prints each new line `lines()` reports, as the Slack sandbox does. */
function echo(lifetime: Lifetime, lines: () => string[]): void {
  let shown = 0;
  const timer = setInterval(() => {
    const all = lines();
    for (const line of all.slice(shown)) print(`${color(34, "sandbox")} | ${line}`);
    shown = all.length;
  }, 250);
  lifetime.defer(async () => clearInterval(timer));
}
