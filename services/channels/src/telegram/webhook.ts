import { ChannelHookError, type ConnectionContext } from "../definition.ts";
import { type BotApiResult, callBotApi } from "./api.ts";

/** What Telegram accepts as `secret_token`: 1–256 of `A-Z a-z 0-9 _ -` (Bot API, setWebhook). */
export const TELEGRAM_SECRET_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/** A bot token: the bot's numeric id, a colon, and the secret part BotFather issued. */
const BOT_TOKEN_PATTERN = /^[1-9][0-9]{0,19}:[A-Za-z0-9_-]{1,200}$/;

/** The updates Konstruct reads; others would be delivered only to be ignored. */
const ALLOWED_UPDATES = ["message"];

const CALL_TIMEOUT_MS = 10_000;

/** Problems with a Telegram Secret's values, each saying what to fix (values are never echoed). */
export function checkTelegramCredentials(credentials: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  const { botToken, webhookSecret } = credentials;
  if (botToken !== undefined && !BOT_TOKEN_PATTERN.test(botToken)) {
    problems.push("botToken is not a bot token (<bot id>:<secret> as BotFather gives it)");
  }
  if (webhookSecret !== undefined && !TELEGRAM_SECRET_PATTERN.test(webhookSecret)) {
    problems.push(
      `webhookSecret must be 1 to 256 characters of A-Z a-z 0-9 _ - (Telegram refuses others; it has ${webhookSecret.length} ` +
        "characters, or one outside that set); e.g. openssl rand -hex 32",
    );
  }
  return problems;
}

/** Registers the connection's webhook with its secret token (`setWebhook`; Telegram replaces any earlier one). */
export async function connectTelegramWebhook(context: ConnectionContext): Promise<void> {
  const result = await callBotApi<boolean>(
    context.apiUrl,
    context.credentials.botToken ?? "",
    "setWebhook",
    { url: context.publicUrl, secret_token: context.credentials.webhookSecret, allowed_updates: ALLOWED_UPDATES },
    CALL_TIMEOUT_MS,
  );
  if (result.kind !== "ok") throw hookError("WebhookRegistrationFailed", "setWebhook", context, result);
}

/**
 * Removes the connection's webhook (`deleteWebhook`) when it is still this connection's: a bot
 * whose webhook now points elsewhere (the bot moved to another installation) is left alone.
 */
export async function disconnectTelegramWebhook(context: ConnectionContext): Promise<void> {
  const token = context.credentials.botToken ?? "";
  const info = await callBotApi<{ url?: unknown }>(context.apiUrl, token, "getWebhookInfo", {}, CALL_TIMEOUT_MS);
  if (info.kind !== "ok") throw hookError("WebhookRemovalFailed", "getWebhookInfo", context, info);
  if (info.result?.url !== context.publicUrl) return;
  const result = await callBotApi<boolean>(context.apiUrl, token, "deleteWebhook", {}, CALL_TIMEOUT_MS);
  if (result.kind !== "ok") throw hookError("WebhookRemovalFailed", "deleteWebhook", context, result);
}

function hookError(
  reason: string,
  method: string,
  context: ConnectionContext,
  result: Exclude<BotApiResult<unknown>, { kind: "ok" }>,
): ChannelHookError {
  const bot = `bot ${context.externalId}`;
  if (result.kind === "no_answer") {
    return new ChannelHookError(reason, `Telegram did not answer ${method} for ${bot} (${result.detail}); retrying`, {
      retryable: true,
    });
  }
  const said = `${result.errorCode} ${result.description}`;
  if (result.errorCode === 429 || result.status >= 500) {
    return new ChannelHookError(reason, `Telegram answered ${method} for ${bot} with ${said}; retrying`, { retryable: true });
  }
  const hint =
    result.errorCode === 401 || result.errorCode === 404
      ? "the botToken in the Secret is not a valid token (revoked, or mistyped); put the current token from BotFather there"
      : method === "setWebhook"
        ? `Telegram takes only public HTTPS URLs on ports 443, 80, 88 or 8443; check the operator's public base URL (${new URL(context.publicUrl).origin})`
        : "see Telegram's answer";
  return new ChannelHookError(reason, `Telegram refused ${method} for ${bot}: ${said}; ${hint}`, { retryable: false });
}
