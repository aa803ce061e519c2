import type { Migration } from "kysely/migration";
import * as roles from "./0001-roles.ts";
import * as tenancy from "./0002-tenancy.ts";
import * as configNotify from "./0003-config-notify.ts";
import * as recordTokens from "./0004-record-tokens.ts";
import * as channelTypes from "./0005-channel-types.ts";
import * as tenantReadOnly from "./0006-tenant-read-only.ts";
import * as tenantOwners from "./0007-tenant-owners.ts";
import * as portal from "./0008-portal.ts";
import * as conversationHistory from "./0009-conversation-history.ts";
import * as operatorRole from "./0010-operator-role.ts";
import * as recordHistory from "./0011-record-history.ts";
import * as recordTokenBatches from "./0012-record-token-batches.ts";
import * as operatorPortalHistory from "./0013-operator-portal-history.ts";
import * as dailyMessageCounts from "./0014-daily-message-counts.ts";
import * as operatorNarrower from "./0015-operator-narrower.ts";
import * as cheaperHistoryWrite from "./0016-cheaper-history-write.ts";
import * as channelActivity from "./0017-channel-activity.ts";
import * as searchUnderRls from "./0018-search-under-rls.ts";
import * as historyCountsInFunction from "./0019-history-counts-in-function.ts";

/**
 * Every migration, by name. Names sort in the order they apply: a new migration must come
 * alphabetically after the last one executed anywhere, or kysely refuses to run.
 */
export const migrations: Record<string, Migration> = {
  "0001-roles": roles,
  "0002-tenancy": tenancy,
  "0003-config-notify": configNotify,
  "0004-record-tokens": recordTokens,
  "0005-channel-types": channelTypes,
  "0006-tenant-read-only": tenantReadOnly,
  "0007-tenant-owners": tenantOwners,
  "0008-portal": portal,
  "0009-conversation-history": conversationHistory,
  "0010-operator-role": operatorRole,
  "0011-record-history": recordHistory,
  "0012-record-token-batches": recordTokenBatches,
  "0013-operator-portal-history": operatorPortalHistory,
  "0014-daily-message-counts": dailyMessageCounts,
  "0015-operator-narrower": operatorNarrower,
  "0016-cheaper-history-write": cheaperHistoryWrite,
  "0017-channel-activity": channelActivity,
  "0018-search-under-rls": searchUnderRls,
  "0019-history-counts-in-function": historyCountsInFunction,
};
