export { syncChannelTypes } from "./channel-types.ts";
export { migrateToLatest, setAppRolePassword, setOperatorRolePassword } from "./migrate.ts";
export { migrations } from "./migrations/index.ts";
