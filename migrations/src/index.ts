export { syncChannelTypes } from "./channel-types.ts";
export { migrateToLatest, setAppRolePassword, setOperatorRolePassword } from "./migrate.ts";
export { NO_AGENT } from "./migrations/0014-daily-message-counts.ts";
export { migrations } from "./migrations/index.ts";
