// Test doubles of the services channels talk to, each speaking that service's wire protocol.
// Tests and the local sandbox of `npm start` use them; the gateway never imports this entry.
export type {
  SlackApiCall,
  SlackApiDouble,
  SlackApiFailure,
  SlackApiMessage,
  SlackApiOptions,
  SlackInstallingTeam,
  SlackOAuthApp,
  SlackTokenInfo,
} from "./slack/double.ts";
export { signSlackRequest, startSlackApi } from "./slack/double.ts";
export type {
  ActivityTokenOptions,
  TeamsApiCall,
  TeamsApiDouble,
  TeamsApiFailure,
  TeamsApiOptions,
  TeamsBot,
  TeamsReply,
} from "./teams/double.ts";
export { startTeamsApi, TEAMS_DOUBLE_ISSUER } from "./teams/double.ts";
export type {
  TelegramApiCall,
  TelegramApiDouble,
  TelegramApiFailure,
  TelegramApiOptions,
  TelegramBotInfo,
  TelegramSentMessage,
} from "./telegram/double.ts";
export { startTelegramApi } from "./telegram/double.ts";
